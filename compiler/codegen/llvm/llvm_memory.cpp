#include "compiler/codegen/llvm/llvm_memory.h"

#include <llvm/Support/ErrorHandling.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>

namespace resnetc::codegen::llvm_backend {
namespace {

thread_local const std::string* t_message = nullptr;  // the innermost guard's on this thread

void write_stderr(const char* text, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(STDERR_FILENO, text, size);
    if (n <= 0) return;
    text += n;
    size -= static_cast<size_t>(n);
  }
}

// Several compile threads can run out at once; one message is enough, and the others wait
// for its _exit.
[[noreturn]] void die(const char* reason) {
  static std::atomic<bool> dying{false};
  if (!dying.exchange(true)) {
    if (t_message) {
      write_stderr(t_message->data(), t_message->size());
    } else {
      constexpr char kPrefix[] = "resnetc: error: out of memory in LLVM (";
      write_stderr(kPrefix, sizeof kPrefix - 1);
      write_stderr(reason, std::strlen(reason));
      write_stderr(")\n", 2);
    }
    ::_exit(1);
  }
  for (;;) ::pause();
}

void on_new_failure() {
  if (t_message) die("operator new");
  throw std::bad_alloc();
}

void on_llvm_bad_alloc(void*, const char* reason, bool) { die(reason); }

}  // namespace

LlvmMemoryGuard::LlvmMemoryGuard(std::string message) : message_(std::move(message) + "\n"), outer_(t_message) {
  static std::once_flag installed;
  std::call_once(installed, [] {
    std::set_new_handler(on_new_failure);
    llvm::install_bad_alloc_error_handler(on_llvm_bad_alloc);
  });
  t_message = &message_;
}

LlvmMemoryGuard::~LlvmMemoryGuard() { t_message = outer_; }

}  // namespace resnetc::codegen::llvm_backend
