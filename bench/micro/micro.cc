// micro.cc - micro-benchmarks of the malloc API (and of buddyslab's native
// API), in Google Benchmark's State loops around plain C calls.
//
// The binary links no allocator: bench/micro/run starts it once per
// allocator with LD_PRELOAD (glibc's malloc when nothing is preloaded). The
// native-API benchmarks look kmem_cache_* and alloc_pages up at run time
// with dlsym(RTLD_DEFAULT, ...) and report an error (SkipWithError) when the
// preloaded allocator is not buddyslab, so one binary serves every allocator.
//
// Every benchmark reports a counter "ops": the malloc+free pairs (or
// alloc+free, or reallocs) done in one iteration. Time per iteration / ops
// is the time per operation that bench/micro/run tabulates. Threaded
// benchmarks use real time, so their time per operation is the wall time of
// the whole process divided by the operations of all threads.
//
// Every block that is allocated is written (one byte), so the allocator
// cannot hand out memory that is never touched, and every pointer goes
// through benchmark::DoNotOptimize (the file is also compiled with
// -fno-builtin-malloc and friends): no call is elided.
//
// Built by bench/micro/Makefile into build/bench-micro/micro.
#include <benchmark/benchmark.h>

#include <dlfcn.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <vector>

namespace {

inline void touch(void *p, size_t size) {
  // one byte at each end: the first and the last page of the block
  static_cast<volatile char *>(p)[0] = 1;
  static_cast<volatile char *>(p)[size - 1] = 1;
}

inline void *checked(void *p, benchmark::State &state) {
  if (p == nullptr) state.SkipWithError("allocation failed");
  return p;
}

void set_ops(benchmark::State &state, double ops) {
  // kAvgThreads: every thread sets the same value; report it once
  state.counters["ops"] = benchmark::Counter(ops, benchmark::Counter::kAvgThreads);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ops));
}

// ---- malloc + free pairs -------------------------------------------------

void BM_malloc_free(benchmark::State &state) {
  const size_t size = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void *p = malloc(size);
    benchmark::DoNotOptimize(p);
    if (!checked(p, state)) break;
    touch(p, size);
    free(p);
  }
  set_ops(state, 1);
}
BENCHMARK(BM_malloc_free)->RangeMultiplier(2)->Range(8, 4 << 20);

// ---- batches of N allocations, freed LIFO, FIFO or in random order ---------

enum Order { kLifo, kFifo, kRandom };

template <Order order>
void BM_batch(benchmark::State &state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const size_t size = static_cast<size_t>(state.range(1));
  std::vector<void *> ptrs(n);
  std::vector<uint32_t> perm(n);
  for (size_t i = 0; i < n; i++) perm[i] = static_cast<uint32_t>(i);
  std::mt19937 rng(42);  // the same order under every allocator
  std::shuffle(perm.begin(), perm.end(), rng);
  for (auto _ : state) {
    for (size_t i = 0; i < n; i++) {
      void *p = malloc(size);
      benchmark::DoNotOptimize(p);
      touch(p, size);
      ptrs[i] = p;
    }
    switch (order) {
      case kLifo:
        for (size_t i = n; i-- > 0;) free(ptrs[i]);
        break;
      case kFifo:
        for (size_t i = 0; i < n; i++) free(ptrs[i]);
        break;
      case kRandom:
        for (size_t i = 0; i < n; i++) free(ptrs[perm[i]]);
        break;
    }
    benchmark::ClobberMemory();
  }
  set_ops(state, static_cast<double>(n));
}
void BatchArgs(benchmark::internal::Benchmark *b) {
  for (int n : {100, 10000})
    for (int size : {64, 1024}) b->Args({n, size});
  b->ArgNames({"n", "size"});
}
BENCHMARK_TEMPLATE(BM_batch, kLifo)->Name("BM_batch_lifo")->Apply(BatchArgs);
BENCHMARK_TEMPLATE(BM_batch, kFifo)->Name("BM_batch_fifo")->Apply(BatchArgs);
BENCHMARK_TEMPLATE(BM_batch, kRandom)->Name("BM_batch_random")->Apply(BatchArgs);

// ---- realloc growth --------------------------------------------------------

// Doubling from 16 B to range(0) bytes (a vector that doubles).
void BM_realloc_double(benchmark::State &state) {
  const size_t max = static_cast<size_t>(state.range(0));
  double ops = 0;
  for (size_t s = 32; s <= max; s *= 2) ops++;
  for (auto _ : state) {
    char *p = static_cast<char *>(malloc(16));
    touch(p, 16);
    for (size_t s = 32; s <= max; s *= 2) {
      p = static_cast<char *>(realloc(p, s));
      benchmark::DoNotOptimize(p);
      touch(p, s);
    }
    free(p);
  }
  set_ops(state, ops);
}
BENCHMARK(BM_realloc_double)->Arg(4 << 20)->ArgName("max");

// Growth by range(0) bytes at a time up to range(1) (a string that appends).
void BM_realloc_step(benchmark::State &state) {
  const size_t step = static_cast<size_t>(state.range(0));
  const size_t max = static_cast<size_t>(state.range(1));
  for (auto _ : state) {
    char *p = static_cast<char *>(malloc(step));
    touch(p, step);
    for (size_t s = 2 * step; s <= max; s += step) {
      p = static_cast<char *>(realloc(p, s));
      benchmark::DoNotOptimize(p);
      touch(p, s);
    }
    free(p);
  }
  set_ops(state, static_cast<double>(max / step - 1));
}
BENCHMARK(BM_realloc_step)->Args({16, 16 << 10})->Args({4096, 256 << 10})->ArgNames({"step", "max"});

// ---- calloc ----------------------------------------------------------------

void BM_calloc_free(benchmark::State &state) {
  const size_t size = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void *p = calloc(1, size);
    benchmark::DoNotOptimize(p);
    if (!checked(p, state)) break;
    touch(p, size);
    free(p);
  }
  set_ops(state, 1);
}
BENCHMARK(BM_calloc_free)->Arg(16)->Arg(256)->Arg(4096)->Arg(64 << 10)->Arg(1 << 20);

// ---- posix_memalign ----------------------------------------------------------

void BM_posix_memalign(benchmark::State &state) {
  const size_t align = static_cast<size_t>(state.range(0));
  const size_t size = static_cast<size_t>(state.range(1));
  for (auto _ : state) {
    void *p = nullptr;
    if (posix_memalign(&p, align, size) != 0) {
      state.SkipWithError("posix_memalign failed");
      break;
    }
    benchmark::DoNotOptimize(p);
    touch(p, size);
    free(p);
  }
  set_ops(state, 1);
}
BENCHMARK(BM_posix_memalign)
    ->Args({64, 64})
    ->Args({64, 1000})
    ->Args({4096, 64})
    ->Args({4096, 4096})
    ->Args({65536, 65536})
    // 2^order pages aligned to their size: what alloc_pages(order) returns
    ->Args({4096 << 2, 4096 << 2})
    ->Args({4096 << 10, 4096 << 10})
    ->ArgNames({"align", "size"});

// ---- buddyslab's native API, looked up at run time ----------------------------

struct kmem_cache;
struct Native {
  kmem_cache *(*cache_create)(const char *, size_t, size_t, unsigned long, void (*)(void *));
  void *(*cache_alloc)(kmem_cache *, unsigned int);
  void (*cache_free)(kmem_cache *, void *);
  void (*cache_destroy)(kmem_cache *);
  void *(*alloc_pages)(unsigned int, unsigned int);
  void (*free_pages)(void *, unsigned int);
  bool ok;
};

const Native &native() {
  static const Native n = [] {
    Native r{};
    r.cache_create = reinterpret_cast<decltype(r.cache_create)>(dlsym(RTLD_DEFAULT, "kmem_cache_create"));
    r.cache_alloc = reinterpret_cast<decltype(r.cache_alloc)>(dlsym(RTLD_DEFAULT, "kmem_cache_alloc"));
    r.cache_free = reinterpret_cast<decltype(r.cache_free)>(dlsym(RTLD_DEFAULT, "kmem_cache_free"));
    r.cache_destroy = reinterpret_cast<decltype(r.cache_destroy)>(dlsym(RTLD_DEFAULT, "kmem_cache_destroy"));
    r.alloc_pages = reinterpret_cast<decltype(r.alloc_pages)>(dlsym(RTLD_DEFAULT, "alloc_pages"));
    r.free_pages = reinterpret_cast<decltype(r.free_pages)>(dlsym(RTLD_DEFAULT, "__free_pages"));
    r.ok = r.cache_create && r.cache_alloc && r.cache_free && r.cache_destroy && r.alloc_pages &&
           r.free_pages;
    return r;
  }();
  return n;
}

constexpr const char *kNoNative = "native API absent (allocator is not buddyslab)";

// native_or_skip - false, with the benchmark marked skipped (and its loop
// run empty, as Google Benchmark wants), when the native API is absent.
bool native_or_skip(const Native &nat, benchmark::State &state) {
  if (nat.ok) return true;
  state.SkipWithError(kNoNative);
  for (auto _ : state) {
  }
  return false;
}

void BM_kmem_cache_alloc_free(benchmark::State &state) {
  const Native &nat = native();
  if (!native_or_skip(nat, state)) return;
  const size_t size = static_cast<size_t>(state.range(0));
  kmem_cache *cache = nat.cache_create("bench-micro", size, 0, 0, nullptr);
  if (!cache) {
    state.SkipWithError("kmem_cache_create failed");
    return;
  }
  for (auto _ : state) {
    void *p = nat.cache_alloc(cache, 0);
    benchmark::DoNotOptimize(p);
    if (!checked(p, state)) break;
    touch(p, size);
    nat.cache_free(cache, p);
  }
  nat.cache_destroy(cache);
  set_ops(state, 1);
}
BENCHMARK(BM_kmem_cache_alloc_free)->Arg(24)->Arg(200)->Arg(1000);

// N objects, freed in the reverse order (LIFO)
void BM_kmem_cache_batch(benchmark::State &state) {
  const Native &nat = native();
  if (!native_or_skip(nat, state)) return;
  const size_t n = static_cast<size_t>(state.range(0));
  const size_t size = static_cast<size_t>(state.range(1));
  kmem_cache *cache = nat.cache_create("bench-micro-batch", size, 0, 0, nullptr);
  if (!cache) {
    state.SkipWithError("kmem_cache_create failed");
    return;
  }
  std::vector<void *> ptrs(n);
  for (auto _ : state) {
    for (size_t i = 0; i < n; i++) {
      void *p = nat.cache_alloc(cache, 0);
      benchmark::DoNotOptimize(p);
      touch(p, size);
      ptrs[i] = p;
    }
    for (size_t i = n; i-- > 0;) nat.cache_free(cache, ptrs[i]);
    benchmark::ClobberMemory();
  }
  nat.cache_destroy(cache);
  set_ops(state, static_cast<double>(n));
}
BENCHMARK(BM_kmem_cache_batch)->Args({10000, 64})->ArgNames({"n", "size"});

void BM_alloc_pages(benchmark::State &state) {
  const Native &nat = native();
  if (!native_or_skip(nat, state)) return;
  const unsigned int order = static_cast<unsigned int>(state.range(0));
  for (auto _ : state) {
    void *p = nat.alloc_pages(0, order);
    benchmark::DoNotOptimize(p);
    if (!checked(p, state)) break;
    touch(p, 4096UL << order);
    nat.free_pages(p, order);
  }
  set_ops(state, 1);
}
BENCHMARK(BM_alloc_pages)->DenseRange(0, 4)->Arg(6)->Arg(8)->Arg(10)->ArgName("order");

// ---- threads: 1, 2, 4 and 8, same-thread and cross-thread frees ---------------

constexpr int kMaxThreads = 8;
constexpr size_t kBatch = 64;

// Each thread allocates a batch of kBatch blocks and frees it itself.
void BM_mt_local(benchmark::State &state) {
  const size_t size = static_cast<size_t>(state.range(0));
  void *ptrs[kBatch];
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; i++) {
      void *p = malloc(size);
      benchmark::DoNotOptimize(p);
      touch(p, size);
      ptrs[i] = p;
    }
    for (size_t i = kBatch; i-- > 0;) free(ptrs[i]);
    benchmark::ClobberMemory();
  }
  set_ops(state, kBatch);
}
BENCHMARK(BM_mt_local)->Arg(64)->Arg(1024)->ArgName("size")->ThreadRange(1, kMaxThreads)->UseRealTime();

// The threads form a ring: in each iteration thread i allocates a batch,
// hands it to thread i+1 through a one-slot mailbox, and frees the batch it
// got from thread i-1. Every block is freed by a thread that did not
// allocate it (with one thread, the ring is a loop back to itself). No
// deadlock: a thread that waits to post has taken its own mailbox's batch
// of the round before, and every thread runs the same number of iterations,
// so the mailboxes are empty when the benchmark ends.
struct alignas(64) Mailbox {
  std::atomic<bool> full{false};
  void *ptrs[kBatch];
};
Mailbox mailboxes[kMaxThreads];

void BM_mt_xthread(benchmark::State &state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const int self = state.thread_index();
  Mailbox &in = mailboxes[self];
  Mailbox &out = mailboxes[(self + 1) % state.threads()];
  void *ptrs[kBatch];
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; i++) {
      void *p = malloc(size);
      benchmark::DoNotOptimize(p);
      touch(p, size);
      ptrs[i] = p;
    }
    while (out.full.load(std::memory_order_acquire)) sched_yield();
    memcpy(out.ptrs, ptrs, sizeof(ptrs));
    out.full.store(true, std::memory_order_release);
    while (!in.full.load(std::memory_order_acquire)) sched_yield();
    for (size_t i = 0; i < kBatch; i++) free(in.ptrs[i]);
    in.full.store(false, std::memory_order_release);
  }
  set_ops(state, kBatch);
}
BENCHMARK(BM_mt_xthread)->Arg(64)->Arg(1024)->ArgName("size")->ThreadRange(1, kMaxThreads)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
