#pragma once
// The files a training run writes (its checkpoint and its log), made safe before anything is
// compiled: neither may be one of the run's inputs or an existing file that resnetc did not
// write; both directories must be writable; the checkpoint is locked against a second trainer
// (an advisory lock, `.NAME.lock` beside it, which the kernel releases however the process
// ends) and the temporary files of an earlier, killed write are removed.
//
// A checkpoint path that is a symbolic link is written through: the link's final target is
// replaced (atomically, in the target's directory) and the link stays a link.
#include <filesystem>
#include <string>
#include <vector>

namespace resnetc::train {

class RunFiles {
 public:
  // `inputs`: every file the run reads (the model, the data files, weights it starts from).
  // Throws std::runtime_error with a message naming the file and the problem.
  RunFiles(const std::filesystem::path& checkpoint, const std::filesystem::path& log,
           const std::vector<std::filesystem::path>& inputs);
  ~RunFiles();  // releases the lock
  RunFiles(const RunFiles&) = delete;
  RunFiles& operator=(const RunFiles&) = delete;

  const std::filesystem::path& checkpoint() const { return checkpoint_; }  // links resolved
  const std::filesystem::path& log() const { return log_; }                // empty: no log
  // Whether a checkpoint (resnetc's: anything else is refused) is already at that path.
  bool checkpoint_exists() const { return checkpoint_exists_; }

 private:
  std::filesystem::path checkpoint_, log_;
  bool checkpoint_exists_ = false;
  int lock_fd_ = -1;
};

// Whether the first line of a file is one resnetc writes at the start of a log (or of an older
// log's table): `# run ...`, `{"run": ...}`, `epoch,loss,...` or `{"epoch": ...}`.
bool looks_like_resnetc_log(const std::string& first_line);

}  // namespace resnetc::train
