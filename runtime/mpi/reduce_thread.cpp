#include "runtime/mpi/reduce_thread.h"

#include <exception>
#include <span>
#include <utility>

namespace resnetc::mpi {

ReduceThread::ReduceThread(const Communicator& world) : world_(world), thread_([queue = queue_] { serve(queue); }) {}

ReduceThread::~ReduceThread() {
  bool idle = false;
  {
    std::lock_guard lock(queue_->mutex);
    queue_->stop = true;
    idle = queue_->done == queue_->queued;
  }
  queue_->changed.notify_all();
  if (idle || std::uncaught_exceptions() == 0)
    thread_.join();
  else
    thread_.detach();  // it holds the queue and the vectors it sums
}

void ReduceThread::serve(const std::shared_ptr<Queue>& queue) {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(queue->mutex);
      queue->changed.wait(lock, [&] { return !queue->jobs.empty() || queue->stop; });
      if (queue->jobs.empty()) return;
      job = std::move(queue->jobs.front());
      queue->jobs.pop_front();
    }
    std::exception_ptr error;
    // After a failed sum the ranks no longer agree on what comes next: the rest are skipped.
    bool failed = false;
    {
      std::lock_guard lock(queue->mutex);
      failed = queue->error != nullptr;
    }
    if (!failed) {
      try {
        job();
      } catch (...) {
        error = std::current_exception();
      }
    }
    {
      std::lock_guard lock(queue->mutex);
      if (error && !queue->error) queue->error = error;
      ++queue->done;
    }
    queue->changed.notify_all();
  }
}

uint64_t ReduceThread::push(std::function<void()> job) {
  uint64_t ticket = 0;
  {
    std::lock_guard lock(queue_->mutex);
    queue_->jobs.push_back(std::move(job));
    ticket = ++queue_->queued;
  }
  queue_->changed.notify_all();
  return ticket;
}

uint64_t ReduceThread::sum(std::shared_ptr<std::vector<float>> values) {
  return push([&world = world_, values = std::move(values)] { world.sum(std::span<float>(*values)); });
}

uint64_t ReduceThread::sum(std::shared_ptr<std::vector<double>> values) {
  return push([&world = world_, values = std::move(values)] { world.sum(std::span<double>(*values)); });
}

void ReduceThread::wait(uint64_t ticket) {
  std::unique_lock lock(queue_->mutex);
  queue_->changed.wait(lock, [&] { return queue_->done >= ticket; });
  if (queue_->error) std::rethrow_exception(queue_->error);
}

void ReduceThread::wait_all() {
  uint64_t last = 0;
  {
    std::lock_guard lock(queue_->mutex);
    last = queue_->queued;
  }
  wait(last);
}

}  // namespace resnetc::mpi
