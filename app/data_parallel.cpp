// Data parallelism over MPI (see data_parallel.h for the scheme).
#include "app/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "engine/backend.h"

#ifdef HEADCOUNT_HAVE_MPI
#include <mpi.h>
#endif
#ifdef HEADCOUNT_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace hc {

namespace {

// Gradients travel in buckets of at most 4M floats (16 MiB): few enough
// all-reduces that per-call latency does not matter, small enough that the
// staging buffer stays modest.
constexpr int64_t kBucketFloats = int64_t(1) << 22;

// The job size a launcher announced (0: not started by one): Open MPI's
// mpirun sets OMPI_COMM_WORLD_SIZE, MPICH's and PMIx launchers PMI_SIZE. A
// plain `headcount train` never touches MPI.
int launched_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* size = std::getenv(name)) return std::max(1, std::atoi(size));
  return 0;
}

#ifdef HEADCOUNT_HAVE_NCCL
void nccl_check(ncclResult_t result, const char* call) {
  if (result != ncclSuccess) throw std::runtime_error(std::string(call) + " failed: " + ncclGetErrorString(result));
}
void cuda_check(cudaError_t result, const char* call) {
  if (result != cudaSuccess) throw std::runtime_error(std::string(call) + " failed: " + cudaGetErrorString(result));
}
#define NCCL_CHECK(call) nccl_check((call), #call)
#define CUDA_CHECK(call) cuda_check((call), #call)
#endif

// A CPU float32 copy of t to stage through MPI (t itself when it already is one).
Tensor on_host(const Tensor& t) {
  check(t.dtype() == DType::F32, "data parallel: tensors must be F32, got " + t.describe());
  return t.device() == Device::CPU ? t : t.to(Device::CPU);
}

}  // namespace

DataParallel::DataParallel() {
#ifdef HEADCOUNT_HAVE_MPI
  if (launched_ranks() == 0) return;
  // Only the main thread calls MPI; OpenMP threads never do.
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  started_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks_);
#else
  if (launched_ranks() > 1) {  // R separate copies would each train alone
    std::fprintf(stderr, "headcount: started by mpirun with %d ranks, but this build has no MPI (install "
                         "libopenmpi-dev and rebuild)\n", launched_ranks());
    std::exit(2);
  }
#endif
}

DataParallel& DataParallel::world() {
  static DataParallel dp;
  return dp;
}

void DataParallel::finalize() {
#ifdef HEADCOUNT_HAVE_MPI
  DataParallel& dp = world();
#ifdef HEADCOUNT_HAVE_NCCL
  if (dp.nccl_) ncclCommDestroy(dp.nccl_);
  dp.nccl_ = nullptr;
#endif
  if (dp.started_) MPI_Finalize();
  dp.started_ = false;
#endif
}

void DataParallel::use_gpu() {
#ifdef HEADCOUNT_HAVE_NCCL
  if (!started_) return;
  // This rank's number among the ranks on its node.
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  int local = 0;
  MPI_Comm_rank(node, &local);
  MPI_Comm_free(&node);
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus == 0) return;  // the backend will say there is no GPU
  CUDA_CHECK(cudaSetDevice(local % gpus));
#endif
}

int64_t DataParallel::streams(int64_t B) const {
  check(B % ranks_ == 0, "config: batch " + std::to_string(B) + " does not split over " + std::to_string(ranks_) +
                             " ranks: the batch is the global one, use a multiple of " + std::to_string(ranks_));
  return B / ranks_;
}

void DataParallel::sum(std::vector<double>& values) const {
#ifdef HEADCOUNT_HAVE_MPI
  if (ranks_ > 1)
    MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#else
  (void)values;
#endif
}

bool DataParallel::average_on_device(const std::vector<Variable>& params, float weight) const {
#ifdef HEADCOUNT_HAVE_NCCL
  if (!nccl_) {  // rank 0 makes the communicator's id, MPI hands it to the others
    ncclUniqueId id;
    if (rank_ == 0) NCCL_CHECK(ncclGetUniqueId(&id));
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    NCCL_CHECK(ncclCommInitRank(&nccl_, ranks_, id, rank_));
  }
  // Each gradient scaled by this rank's token share, then summed in place
  // on the default stream, behind the backward kernels; one group lets NCCL
  // fuse the many small tensors into few transfers.
  for (const Variable& p : params) {
    const Tensor& g = p.grad_buffer();
    check(g.dtype() == DType::F32, "data parallel: gradients must be F32, got " + g.describe());
    backend_of(g).unary(Unary::Scale, g, g, weight, false);
  }
  NCCL_CHECK(ncclGroupStart());
  for (const Variable& p : params)
    NCCL_CHECK(ncclAllReduce(p.grad().raw(), p.grad().raw(), static_cast<size_t>(p.grad().numel()), ncclFloat, ncclSum,
                             nccl_, cudaStreamLegacy));
  NCCL_CHECK(ncclGroupEnd());
  CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
  return true;
#else
  (void)params, (void)weight;
  return false;
#endif
}

void DataParallel::average_gradients(const std::vector<Variable>& params, double tokens, double& comm_seconds) const {
  if (!started_ || params.empty()) return;
#ifdef HEADCOUNT_HAVE_MPI
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<double> total{tokens};
  sum(total);
  const float weight = static_cast<float>(tokens / total[0]);
  // On GPUs, NCCL (even for one rank: the path a multi-GPU job takes).
  if (params[0].value().device() == Device::CUDA && average_on_device(params, weight)) {
    comm_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return;
  }
  if (ranks_ == 1) return;
  // Each gradient as a host float array (staged when it lives on a GPU).
  std::vector<Tensor> host;
  for (const Variable& p : params) host.push_back(on_host(p.grad_buffer()));
  std::vector<float> bucket(static_cast<size_t>(std::min<int64_t>(kBucketFloats, [&] {
    int64_t n = 0;
    for (const Tensor& h : host) n += h.numel();
    return n;
  }())));
  // Walk all gradients as one long array, a bucket at a time: pack
  // (weighted), sum over ranks, unpack.
  size_t index = 0;
  int64_t offset = 0;
  while (index < host.size()) {
    const size_t first_index = index;
    const int64_t first_offset = offset;
    int64_t used = 0;
    while (index < host.size() && used < static_cast<int64_t>(bucket.size())) {
      const int64_t take = std::min<int64_t>(static_cast<int64_t>(bucket.size()) - used, host[index].numel() - offset);
      const float* g = host[index].data<float>() + offset;
      for (int64_t i = 0; i < take; ++i) bucket[used + i] = weight * g[i];
      used += take;
      offset += take;
      if (offset == host[index].numel()) ++index, offset = 0;
    }
    MPI_Allreduce(MPI_IN_PLACE, bucket.data(), static_cast<int>(used), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    size_t i = first_index;
    int64_t o = first_offset, done = 0;
    while (done < used) {
      const int64_t take = std::min<int64_t>(used - done, host[i].numel() - o);
      std::copy(bucket.begin() + done, bucket.begin() + done + take, host[i].data<float>() + o);
      done += take;
      o += take;
      if (o == host[i].numel()) ++i, o = 0;
    }
  }
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i].grad().device() != Device::CPU) params[i].grad().copy_from(host[i]);
  comm_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
#else
  (void)params, (void)tokens, (void)comm_seconds;
#endif
}

void DataParallel::broadcast(const std::vector<Variable>& params) const {
  if (ranks_ == 1) return;
#ifdef HEADCOUNT_HAVE_MPI
  for (const Variable& p : params) {
    const Tensor host = on_host(p.value());
    MPI_Bcast(host.data<float>(), static_cast<int>(host.numel()), MPI_FLOAT, 0, MPI_COMM_WORLD);
    if (p.value().device() != Device::CPU) p.value().copy_from(host);
  }
#else
  (void)params;
#endif
}

Tensor DataParallel::gather_streams(const Tensor& local) const {
  if (ranks_ == 1) return local;
#ifdef HEADCOUNT_HAVE_MPI
  const Tensor host = on_host(local);
  Shape shape = local.shape();
  shape[0] *= ranks_;
  Tensor all = Tensor::empty(shape, DType::F32);
  MPI_Allgather(host.data<float>(), static_cast<int>(host.numel()), MPI_FLOAT, all.data<float>(),
                static_cast<int>(host.numel()), MPI_FLOAT, MPI_COMM_WORLD);
  return local.device() == Device::CPU ? all : all.to(local.device());
#else
  return local;
#endif
}

void DataParallel::abort(const std::string& message) const {
  std::fprintf(stderr, "headcount: rank %d of %d: %s\n", rank_, ranks_, message.c_str());
  std::fflush(stderr);
#ifdef HEADCOUNT_HAVE_MPI
  if (started_) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
  std::exit(1);
}

}  // namespace hc
