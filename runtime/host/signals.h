// Process-wide signal setup, for main() to call first thing.
#pragma once

namespace resnetc::host {

// A write past the file-size limit (ulimit -f, RLIMIT_FSIZE) raises SIGXFSZ, whose default
// action kills the process before it can say anything. Ignored, the write fails with EFBIG
// instead, which every writer reports ("File too large") and recovers from (a checkpoint's
// temporary file is removed, the previous checkpoint stays).
void ignore_file_size_signal();

}  // namespace resnetc::host
