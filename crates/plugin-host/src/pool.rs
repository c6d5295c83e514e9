//! The one wasmtime engine all plugins share: its pooling allocator sized
//! for the plugins' concurrency and memory caps.

use crate::tier::Compiler;
use crate::{LoadError, PluginConfig};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Strategy};

/// The largest `memory_mb` a plugin may have: a 32-bit linear memory's
/// whole 4 GiB.
const MAX_MEMORY_MB: u64 = 4096;

/// One engine for all plugins, with a pool sized for their concurrency,
/// compiling with `compiler` ([`crate::tier`]).
pub(crate) fn new_engine(
    plugins: &[&PluginConfig],
    compiler: Compiler,
) -> Result<Engine, LoadError> {
    let calls: u32 = plugins.iter().map(|p| p.limits.concurrency).sum::<u32>() + 16;
    let max_memory = plugins
        .iter()
        .map(|p| p.limits.memory_mb)
        .max()
        .unwrap_or(64)
        .max(64);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(calls)
        .total_stacks(calls)
        .total_core_instances(calls * 16)
        .total_memories(calls * 4)
        .total_tables(calls * 8)
        .max_core_instances_per_component(16)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        // One MiB over the cap, so the limiter (not the pool) refuses growth
        // and reports it as the plugin's memory limit; never past what a
        // 32-bit memory can address, where the limiter alone stops growth.
        .max_memory_size((((max_memory + 1).min(MAX_MEMORY_MB)) << 20) as usize)
        // A fresh instance per call: reset the first pages of a slot with
        // memset instead of madvise, sparing page faults and TLB shootdowns
        // on every call; batch what is still decommitted.
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10)
        .decommit_batch_size(16);
    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .strategy(match compiler {
            Compiler::Baseline => Strategy::Winch,
            Compiler::Optimizing => Strategy::Cranelift,
        });
    Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))
}
