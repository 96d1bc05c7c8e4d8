// Data-parallel training over MPI ranks: `mpirun -np R headcount train ...`.
//
// Every rank holds the whole model and runs the same training loop on its
// share of the global batch: of the B batcher streams, rank r takes the B/R
// streams [r B/R, (r+1) B/R), so R ranks together see exactly the tokens of
// a one-process run, in the same order. Dropout masks are drawn per stream
// (models/rng_stream.h), so each stream's mask is the one-process mask too.
//
// After backward, average_gradients() is the one place where ranks meet
// (the seam of docs/architecture.md): each rank holds the gradient of the
// mean loss over its own n_r tokens, and the gradient of the global mean
// loss is sum_r (n_r / sum n) g_r, summed over ranks with MPI_Allreduce in
// a few large buckets. Everything else that must agree (weights, gate
// noise, learning rate, the budget controller, stop and NaN decisions)
// either is computed from the same numbers on every rank or comes from
// rank 0, which alone logs and writes checkpoints.
//
// On GPUs (--device cuda) each rank drives one GPU (its rank on the node,
// modulo the GPUs there) and the gradients are summed on the device by NCCL,
// whose communicator MPI bootstraps; on the CPU MPI_Allreduce sums them.
//
// Without MPI in the build, or when the process was not started by mpirun,
// this is one rank and every call is the identity.
#pragma once

#include <string>
#include <vector>

#include "autograd/variable.h"

struct ncclComm;  // NCCL's communicator (nccl.h), when the build has NCCL

namespace hc {

class DataParallel {
 public:
  // The process's view of the job (MPI_Init on first use under mpirun).
  static DataParallel& world();
  // MPI_Finalize, if MPI was started; call once, at the end of main.
  static void finalize();
  // Under mpirun with --device cuda: make this rank's GPU (node-local rank
  // modulo the node's GPUs) the current device. Call before any CUDA work.
  void use_gpu();

  int rank() const { return rank_; }
  int ranks() const { return ranks_; }
  bool leader() const { return rank_ == 0; }

  // This rank's streams of a global batch of B: [first_stream, first_stream + streams).
  // Throws std::invalid_argument when R does not divide B.
  int64_t streams(int64_t B) const;
  int64_t first_stream(int64_t B) const { return rank_ * streams(B); }

  // Sum each entry over ranks, in place (small vectors: losses, token counts, flags).
  void sum(std::vector<double>& values) const;
  // g <- sum_r (tokens_r / sum tokens) g_r for every parameter's gradient
  // (an absent gradient counts as zeros). Seconds spent communicating are
  // added to comm_seconds.
  void average_gradients(const std::vector<Variable>& params, double tokens, double& comm_seconds) const;
  // Rank 0's values of every parameter to all ranks.
  void broadcast(const std::vector<Variable>& params) const;
  // (B/R, ...) on each rank -> (B, ...) on every rank, streams in rank order.
  Tensor gather_streams(const Tensor& local) const;
  // Bring the whole job down (mpirun kills the other ranks) after printing
  // `message` with this rank's number; never returns.
  [[noreturn]] void abort(const std::string& message) const;

 private:
  DataParallel();
  // Sum device gradients with NCCL (false: no NCCL in the build).
  bool average_on_device(const std::vector<Variable>& params, float weight) const;
  int rank_ = 0, ranks_ = 1;
  bool started_ = false;  // MPI_Init called
  mutable ncclComm* nccl_ = nullptr;  // created on the first device all-reduce
};

}  // namespace hc
