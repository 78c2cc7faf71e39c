#pragma once
// Running out of memory inside LLVM. LLVM is built without exceptions and cannot recover:
// a std::bad_alloc from operator new unwinds past its cleanups and leaves the LLVMContext
// corrupt (destroying it then crashes, SIGSEGV in ~LLVMContext), and its own failed mallocs
// call abort(). So while a thread holds an LlvmMemoryGuard, either kind of failure ends the
// process at once: the guard's message on stderr, exit status 1. On other threads operator
// new throws std::bad_alloc as usual, which callers turn into messages of their own.
#include <string>

namespace resnetc::codegen::llvm_backend {

class LlvmMemoryGuard {
 public:
  // `message`: one line, without the newline ("resnetc: error: out of memory while ...").
  explicit LlvmMemoryGuard(std::string message);
  ~LlvmMemoryGuard();
  LlvmMemoryGuard(const LlvmMemoryGuard&) = delete;
  LlvmMemoryGuard& operator=(const LlvmMemoryGuard&) = delete;

 private:
  std::string message_;  // with the newline: the handlers must not allocate
  const std::string* outer_;
};

}  // namespace resnetc::codegen::llvm_backend
