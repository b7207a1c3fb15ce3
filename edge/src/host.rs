//! What one instance sees of the host, assembled in one place: its WASI context
//! (environment, line-buffered stdout/stderr, no sockets), wasi:http with the outbound hook,
//! and for a Spin-flavour component its Spin state. The parts live where their question is
//! answered: guest output in `log::guest_output`, the outbound check in `outbound`, Spin's
//! interfaces in `spin`.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::guest::Guest;
use crate::log::guest_output::{LineWriter, Output};
use crate::outbound::{self, AllowedHosts};
use crate::spin::{SpinCtx, SpinHostView, SpinView};

/// The `T` of each instance's `Store<T>`.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    outbound: outbound::Hook,
    spin: SpinCtx,
    /// When the current request's time is up (the epoch callback checks it; an instance
    /// kept for another request gets that request's deadline).
    pub deadline: Instant,
    /// The instance's linear memory, as the guest grew it (counted only for a component
    /// that reuses instances, whose store installs the gauge).
    pub memory: MemoryGauge,
}

/// Records how large the guest's linear memory has grown (Wasmtime asks before each growth),
/// so a kept instance that grew large can be let go (`reuse`). It refuses nothing Wasmtime's
/// own maximum would allow.
#[derive(Debug, Default)]
pub struct MemoryGauge {
    /// The largest memory size allowed so far, in bytes.
    pub bytes: usize,
}

impl ResourceLimiter for MemoryGauge {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = maximum.is_none_or(|maximum| desired <= maximum);
        if allowed {
            self.bytes = self.bytes.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|maximum| desired <= maximum))
    }
}

impl HostState {
    /// State for one instance of `component`, given `guest`.
    pub fn new(component: Arc<str>, guest: &Guest, allowed_hosts: Arc<AllowedHosts>) -> Self {
        let mut wasi = WasiCtx::builder();
        for (name, value) in guest.environment.pairs() {
            wasi.env(name, value);
        }
        wasi.stdout(LineWriter::new(Output::Stdout))
            .stderr(LineWriter::new(Output::Stderr))
            // wasi:sockets stays closed: outbound traffic goes through wasi:http only, where
            // `outbound::Hook` applies the allow-list.
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        Self {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            outbound: outbound::Hook::new(Arc::clone(&component), allowed_hosts),
            spin: SpinCtx::new(component, guest.spin.clone()),
            deadline: Instant::now(),
            memory: MemoryGauge::default(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

impl SpinHostView for HostState {
    fn spin(&mut self) -> SpinView<'_> {
        SpinView {
            ctx: &mut self.spin,
            table: &mut self.table,
        }
    }
}
