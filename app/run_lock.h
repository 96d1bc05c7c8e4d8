// One writer per run directory. `headcount train` and `prune` hold an
// exclusive flock(2) on OUT_DIR/lock for their whole life, so a second
// process pointed at the same out_dir refuses at once instead of
// interleaving its checkpoints with the first one's. The kernel drops the
// lock when the holder exits, even by kill -9, so a crash never leaves a
// stale lock behind; the file itself (holding the owner's pid, for the
// message) stays and is harmless.
#pragma once

#include <string>

namespace hc {

class RunLock {
 public:
  // Throws std::runtime_error naming the directory and the owner's pid when
  // another process holds the lock.
  explicit RunLock(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// Removes temporary files ("NAME.tmp.PID") that a killed writer left in
// `dir`; call it while holding the RunLock, when no one else can be writing.
// Returns how many were removed.
int remove_stale_temporaries(const std::string& dir);

}  // namespace hc
