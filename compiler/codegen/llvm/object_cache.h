#pragma once
// The CPU backend's on-disk cache of compiled kernels: an llvm::ObjectCache whose entries are
// keyed on a module's IR *before* optimization, so that a hit skips the O3 pipeline as well as
// the code generator (the two take about equal parts of a cold compile).
//
//   cache.assign_key(module);            // unoptimized: hashes the IR, records the key in it
//   if (auto object = cache.getObject(&module)) ...   // a valid entry: load it, drop the module
//   else optimize, compile; the compiler calls cache.notifyObjectCompiled(&module, object)
//
// An entry is <dir>/<key>.o: a header (magic, length, SHA-256 of the object) and the object. A
// missing, torn or corrupt entry is a miss and is rewritten by the next compile; entries are
// written atomically, so processes compiling the same model at once never see half of one. A
// directory that cannot be created or written only costs the cache: nothing is reported.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <llvm/ExecutionEngine/ObjectCache.h>

namespace resnetc::codegen::llvm_backend {

// Where CPU objects are kept: <base>/cpu, where base is --cache-dir, or when empty the
// directory the CUDA cache uses ($XDG_CACHE_HOME/resnetc, else ~/.cache/resnetc). The
// subfolder keeps the two kinds of entries apart.
std::filesystem::path object_cache_dir(const std::filesystem::path& base = {});

class DiskObjectCache final : public llvm::ObjectCache {
 public:
  // `target`: everything besides the IR that decides the object code (LLVM version, triple,
  // CPU, features, optimization level, ...); every key covers it.
  DiskObjectCache(std::filesystem::path dir, std::vector<std::string> target);

  // Keys `module` on its IR as it is now and records the key in the module (named metadata),
  // so that the object compiled from it after optimization is stored under the same key. A
  // module keyed already keeps its key. Returns the key (hex SHA-256).
  std::string assign_key(llvm::Module& module) const;

  // The object stored under the module's key, checked; null when the module has no key or the
  // entry is missing or invalid.
  std::unique_ptr<llvm::MemoryBuffer> getObject(const llvm::Module* module) override;
  // Stores `object` under the module's key; does nothing for a module without one.
  void notifyObjectCompiled(const llvm::Module* module, llvm::MemoryBufferRef object) override;

 private:
  std::filesystem::path entry_path(const llvm::Module& module) const;  // empty: no key

  std::filesystem::path dir_;
  std::vector<std::string> target_;
};

}  // namespace resnetc::codegen::llvm_backend
