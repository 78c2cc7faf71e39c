#include "train/interrupt.h"

#include <unistd.h>

#include <csignal>

namespace resnetc::train {
namespace {

volatile std::sig_atomic_t g_requested = 0;
struct sigaction g_previous_int, g_previous_term;

// Only async-signal-safe calls here: write and _exit.
void on_signal(int signal) {
  if (g_requested != 0) {
    constexpr char kMessage[] = "\nresnetc: stopped at once (a second signal); the last checkpoint is intact\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    ::_exit(128 + signal);
  }
  g_requested = signal;
  constexpr char kMessage[] = "\nresnetc: stopping after this step, to save a checkpoint (again to stop at once)\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
}

}  // namespace

InterruptGuard::InterruptGuard() {
  g_requested = 0;
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // reads and writes in progress carry on
  sigaction(SIGINT, &action, &g_previous_int);
  sigaction(SIGTERM, &action, &g_previous_term);
}

// Once a stop was asked for, the process is on its way out with that signal's status: the
// handler stays, so a second signal while the caller reports and exits still ends it with its
// message and 128 + its number, rather than the default death that drops buffered output.
InterruptGuard::~InterruptGuard() {
  if (g_requested != 0) return;
  sigaction(SIGINT, &g_previous_int, nullptr);
  sigaction(SIGTERM, &g_previous_term, nullptr);
}

int InterruptGuard::requested() { return g_requested; }

const char* signal_name(int signal) { return signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "a signal"; }

}  // namespace resnetc::train
