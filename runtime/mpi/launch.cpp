#include "runtime/mpi/launch.h"

#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "runtime/mpi/communicator.h"

namespace resnetc::mpi {
namespace {

std::optional<int> env_int(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 0 || value > 1 << 24)
    throw MpiError(fmt::format("{}={} is not a rank or a count", name, text));
  return static_cast<int>(value);
}

// This process's arguments as the kernel has them, argv[0] included.
std::vector<std::string> own_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t begin = 0; begin < all.size();) {
    const size_t end = all.find('\0', begin);
    args.push_back(all.substr(begin, end - begin));
    begin = end == std::string::npos ? all.size() : end + 1;
  }
  return args;
}

}  // namespace

std::optional<Launch> launched_by_mpirun() {
  const std::optional<int> size = env_int("OMPI_COMM_WORLD_SIZE");
  if (!size) return std::nullopt;
  const std::optional<int> rank = env_int("OMPI_COMM_WORLD_RANK");
  const std::optional<int> local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE");
  const std::optional<int> local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK");
  if (!rank || *rank >= *size) throw MpiError("mpirun set OMPI_COMM_WORLD_SIZE but no valid OMPI_COMM_WORLD_RANK");
  return Launch{*rank, *size, local_size.value_or(1), local_rank.value_or(0)};
}

int threads_per_rank(const Launch& launch) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int mine = sched_getaffinity(0, sizeof allowed, &allowed) == 0 ? CPU_COUNT(&allowed) : cores;
  if (mine < cores) return std::max(1, mine);  // bound by mpirun
  return std::max(1, cores / std::max(1, launch.local_size));
}

void exec_mpirun(int nproc) {
  std::vector<std::string> args{"mpirun", "-np", std::to_string(nproc), "--oversubscribe"};
  if (geteuid() == 0) args.emplace_back("--allow-run-as-root");
  std::vector<std::string> own = own_arguments();
  if (own.empty()) throw MpiError("--nproc: this process's arguments could not be read from /proc/self/cmdline");
  // The binary by its real path: each rank's /proc/self/exe is mpirun's own.
  char exe[4096];
  const ssize_t length = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (length <= 0) throw MpiError("--nproc: this binary's path could not be read from /proc/self/exe");
  own[0].assign(exe, static_cast<size_t>(length));
  args.insert(args.end(), own.begin(), own.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  execvp(argv[0], argv.data());
  throw MpiError(fmt::format("--nproc {} runs mpirun, which could not be started ({}): install openmpi-bin", nproc,
                             std::strerror(errno)));
}

}  // namespace resnetc::mpi
