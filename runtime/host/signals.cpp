#include "runtime/host/signals.h"

#include <csignal>

namespace resnetc::host {

void ignore_file_size_signal() { std::signal(SIGXFSZ, SIG_IGN); }

}  // namespace resnetc::host
