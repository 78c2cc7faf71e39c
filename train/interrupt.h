#pragma once
// Ctrl-C and SIGTERM during training: the first asks the trainer to stop after the step it is
// in (it then saves a checkpoint that --resume continues exactly); a second ends the process
// at once, with the same exit status a shell reports for the signal (128 + its number).
namespace resnetc::train {

class InterruptGuard {
 public:
  InterruptGuard();   // installs the handlers for SIGINT and SIGTERM
  ~InterruptGuard();  // restores the previous ones, unless a stop was asked for
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // The signal that asked to stop (SIGINT or SIGTERM), or 0.
  static int requested();
};

const char* signal_name(int signal);  // "SIGINT", "SIGTERM"

}  // namespace resnetc::train
