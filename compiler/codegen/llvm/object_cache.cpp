#include "compiler/codegen/llvm/object_cache.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

#include <llvm/Bitcode/BitcodeWriter.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include "runtime/cache/cache_files.h"
#include "runtime/cache/sha256.h"

namespace resnetc::codegen::llvm_backend {
namespace {

// Entry layout: magic, object size (native-endian u64: the cache is per machine), SHA-256 of the
// object, the object. The magic is hashed into every key too: bump it when the layout changes,
// or when Jit::optimize or the code generator's settings change what a given IR compiles to.
constexpr std::array<char, 8> kMagic = {'R', 'S', 'N', 'C', 'O', 'B', 'J', '1'};
constexpr std::size_t kHeaderSize = kMagic.size() + sizeof(std::uint64_t) + 32;
constexpr const char* kKeyMetadata = "resnetc.cache_key";

std::vector<std::byte> encode_entry(llvm::StringRef object) {
  cache::Sha256 hash;
  hash.update(std::string_view(object.data(), object.size()));
  const cache::Sha256::Digest checksum = hash.finish();
  const std::uint64_t size = object.size();
  std::vector<std::byte> entry(kHeaderSize + object.size());
  std::memcpy(entry.data(), kMagic.data(), kMagic.size());
  std::memcpy(entry.data() + kMagic.size(), &size, sizeof size);
  std::memcpy(entry.data() + kMagic.size() + sizeof size, checksum.data(), checksum.size());
  std::memcpy(entry.data() + kHeaderSize, object.data(), object.size());
  return entry;
}

// The object in `entry`, or nothing when the entry is not exactly what encode_entry() wrote.
std::optional<std::string_view> decode_entry(std::span<const std::byte> entry) {
  if (entry.size() < kHeaderSize || std::memcmp(entry.data(), kMagic.data(), kMagic.size()) != 0) return std::nullopt;
  std::uint64_t size = 0;
  std::memcpy(&size, entry.data() + kMagic.size(), sizeof size);
  if (size != entry.size() - kHeaderSize) return std::nullopt;
  std::string_view object(reinterpret_cast<const char*>(entry.data()) + kHeaderSize, entry.size() - kHeaderSize);
  cache::Sha256 hash;
  hash.update(object);
  cache::Sha256::Digest stored;
  std::memcpy(stored.data(), entry.data() + kMagic.size() + sizeof size, stored.size());
  if (hash.finish() != stored) return std::nullopt;
  return object;
}

// Feeds what is written into a hash: the module is hashed without being held in memory twice.
class HashStream final : public llvm::raw_ostream {
 public:
  explicit HashStream(cache::Sha256& hash) : hash_(hash) { SetUnbuffered(); }
  ~HashStream() override { flush(); }

 private:
  void write_impl(const char* data, size_t size) override {
    hash_.update(std::string_view(data, size));
    written_ += size;
  }
  uint64_t current_pos() const override { return written_; }

  cache::Sha256& hash_;
  uint64_t written_ = 0;
};

std::optional<std::string> recorded_key(const llvm::Module& module) {
  const llvm::NamedMDNode* node = module.getNamedMetadata(kKeyMetadata);
  if (node == nullptr || node->getNumOperands() != 1 || node->getOperand(0)->getNumOperands() != 1) return std::nullopt;
  const auto* key = llvm::dyn_cast<llvm::MDString>(node->getOperand(0)->getOperand(0));
  if (key == nullptr) return std::nullopt;
  return key->getString().str();
}

}  // namespace

std::filesystem::path object_cache_dir(const std::filesystem::path& base) {
  return (base.empty() ? cache::default_cache_dir() : base) / "cpu";
}

DiskObjectCache::DiskObjectCache(std::filesystem::path dir, std::vector<std::string> target)
    : dir_(std::move(dir)), target_(std::move(target)) {}

std::string DiskObjectCache::assign_key(llvm::Module& module) const {
  if (std::optional<std::string> key = recorded_key(module)) return *key;
  cache::Sha256 hash;
  hash.update_field(std::string_view(kMagic.data(), kMagic.size()));
  for (const std::string& field : target_) hash.update_field(field);
  {
    // Bitcode, not the IR's text: the same module, written ten times faster and seven times
    // smaller; LLVM's ThinLTO cache keys on a hash of the bitcode too. The writer is deterministic.
    HashStream ir(hash);
    llvm::WriteBitcodeToFile(module, ir);
  }
  const std::string key = cache::to_hex(hash.finish());
  llvm::LLVMContext& context = module.getContext();
  module.getOrInsertNamedMetadata(kKeyMetadata)->addOperand(llvm::MDNode::get(context, llvm::MDString::get(context, key)));
  return key;
}

std::filesystem::path DiskObjectCache::entry_path(const llvm::Module& module) const {
  std::optional<std::string> key = recorded_key(module);
  return key ? dir_ / (*key + ".o") : std::filesystem::path();
}

std::unique_ptr<llvm::MemoryBuffer> DiskObjectCache::getObject(const llvm::Module* module) {
  const std::filesystem::path path = entry_path(*module);
  if (path.empty()) return nullptr;
  std::optional<std::vector<std::byte>> entry = cache::read_file(path);
  if (!entry) return nullptr;
  std::optional<std::string_view> object = decode_entry(*entry);
  if (!object) return nullptr;
  return llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(object->data(), object->size()),
                                              module->getModuleIdentifier());
}

void DiskObjectCache::notifyObjectCompiled(const llvm::Module* module, llvm::MemoryBufferRef object) {
  const std::filesystem::path path = entry_path(*module);
  if (!path.empty()) cache::write_atomically(path, encode_entry(object.getBuffer()));
}

}  // namespace resnetc::codegen::llvm_backend
