//! One request through one instance (fresh, or kept from an earlier request when the
//! component allows it: `reuse`), under a deadline.
//!
//! The deadline is enforced twice: while guest code runs, the epoch callback interrupts it
//! once the deadline has passed (and yields to the executor every tick so a busy guest cannot
//! starve others); while the guest waits on the host (an outbound request, a sleep), a tokio
//! timeout drops the whole call. Either way the store is dropped and the client gets 504.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use tokio::sync::oneshot;
use tokio::time::Instant;
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::guest::Guest;
use crate::host::HostState;
use crate::log;
use crate::outbound::AllowedHosts;
use crate::reply::Refusal;
use crate::reuse::{Instance, Kept};

/// A component compiled, linked and ready to instantiate.
pub struct Served {
    /// Its id in spin.toml.
    pub id: Arc<str>,
    /// What each instance is given: its flavour's environment, variables and stores.
    pub guest: Guest,
    /// Its outbound allow-list.
    pub allowed_hosts: Arc<AllowedHosts>,
    /// Request-body limit.
    pub max_body_bytes: u64,
    /// Per-request deadline.
    pub timeout: Duration,
    /// The pre-linked component.
    pub pre: ProxyPre<HostState>,
    /// Its instances waiting for a request (none unless its `reuse` is above 1).
    pub kept: Arc<Kept>,
}

impl Served {
    /// A store for one instance: the component's WASI context, an epoch callback that
    /// interrupts guest code once the request's deadline (in the store, set per request) has
    /// passed and yields to the executor every tick before that, and for a component that
    /// reuses instances the memory gauge that decides whether one is kept.
    fn new_store(&self, engine: &Engine) -> Store<HostState> {
        let state = HostState::new(
            Arc::clone(&self.id),
            &self.guest,
            Arc::clone(&self.allowed_hosts),
        );
        let mut store = Store::new(engine, state);
        if self.kept.reuses() {
            store.limiter(|state| &mut state.memory);
        }
        store.epoch_deadline_callback(|store| {
            if std::time::Instant::now() >= store.data().deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// A kept instance, or a store for a fresh one, set to `deadline`.
    fn instance_for(
        &self,
        engine: &Engine,
        deadline: Instant,
    ) -> (Store<HostState>, Option<(Proxy, u32)>) {
        let (mut store, kept) = match self.kept.take(std::time::Instant::now()) {
            Some(kept) => (kept.store, Some((kept.proxy, kept.requests))),
            None => (self.new_store(engine), None),
        };
        store.data_mut().deadline = deadline.into_std();
        store.set_epoch_deadline(1);
        (store, kept)
    }

    /// Instantiates the component once without handling a request, so that a component the
    /// instance pool cannot hold fails at start-up rather than on every request. A component
    /// that reuses instances keeps this one for its first request.
    ///
    /// # Errors
    /// Wasmtime's reason, or a timeout after the component's deadline.
    pub async fn check_instantiation(&self, engine: &Engine) -> Result<(), String> {
        let deadline = Instant::now() + self.timeout;
        let (mut store, _) = self.instance_for(engine, deadline);
        match tokio::time::timeout_at(deadline, self.pre.instantiate_async(&mut store)).await {
            Ok(Ok(proxy)) => {
                let instance = Instance {
                    store,
                    proxy,
                    requests: 0,
                };
                self.kept
                    .put_back_served(instance, std::time::Instant::now());
                Ok(())
            }
            Ok(Err(error)) => Err(format!("{error:#}")),
            Err(_elapsed) => Err(format!(
                "instantiation took longer than {} ms",
                self.timeout.as_millis()
            )),
        }
    }
}

/// How a guest call ended when it produced no response.
enum Failure {
    Timeout,
    Guest(wasmtime::Error),
}

/// Runs `request` through an instance of `served`, holding `held` (its instance slot and the
/// budget room of its body) until the instance is gone or kept.
///
/// # Errors
/// The [`Refusal`] to answer with when the component gave no response.
pub async fn invoke(
    engine: &Engine,
    served: &Served,
    request: hyper::Request<Full<Bytes>>,
    deadline: Instant,
    held: impl Send + 'static,
) -> Result<hyper::Response<HyperOutgoingBody>, Refusal> {
    let (mut store, kept) = served.instance_for(engine, deadline);
    let (sender, receiver) = oneshot::channel();
    let setup = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, request)
        .and_then(|req| {
            let out = store.data_mut().http().new_response_outparam(sender)?;
            Ok((req, out))
        });
    let (req, out) = match setup {
        Ok(handles) => handles,
        Err(error) => {
            report_failure(&served.id, "request setup failed", &error);
            return Err(Refusal::BadRequest);
        }
    };

    let pre = served.pre.clone();
    let shelf = Arc::clone(&served.kept);
    let task = tokio::spawn(async move {
        let earlier = kept.as_ref().map_or(0, |(_, requests)| *requests);
        let call = async {
            let proxy = match kept {
                Some((proxy, _)) => proxy,
                None => pre.instantiate_async(&mut store).await?,
            };
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
                .map(|()| proxy)
        };
        let outcome = match tokio::time::timeout_at(deadline, call).await {
            Ok(Ok(proxy)) => Ok(proxy),
            Ok(Err(error)) if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
                Err(Failure::Timeout)
            }
            Ok(Err(error)) => Err(Failure::Guest(error)),
            Err(_elapsed) => Err(Failure::Timeout),
        };
        // The instance is kept or dropped (dropping the store drops the response sender if
        // unused and the request body, and returns the instance to the pool) before the slot
        // and the body's room are released for another request.
        let outcome = match outcome {
            Ok(proxy) => {
                let instance = Instance {
                    store,
                    proxy,
                    requests: earlier.saturating_add(1),
                };
                shelf.put_back_served(instance, std::time::Instant::now());
                Ok(())
            }
            Err(failure) => {
                drop(store);
                Err(failure)
            }
        };
        drop(held);
        outcome
    });

    match receiver.await {
        Ok(Ok(response)) => {
            // The head is out; the guest may still be writing the body. Report a late failure.
            let id = Arc::clone(&served.id);
            tokio::spawn(async move {
                match task.await {
                    Ok(Ok(())) => {}
                    Ok(Err(Failure::Timeout)) => log::event(
                        log::Level::Error,
                        "deadline hit after the response started",
                        &[("component", &id)],
                    ),
                    Ok(Err(Failure::Guest(error))) => {
                        report_failure(&id, "component failed after the response started", &error);
                    }
                    Err(join) => log::event(
                        log::Level::Error,
                        "instance task failed",
                        &[("component", &id), ("error", &join.to_string())],
                    ),
                }
            });
            Ok(response)
        }
        Ok(Err(code)) => {
            log::event(
                log::Level::Error,
                "component answered with an error code",
                &[("component", &served.id), ("code", &format!("{code:?}"))],
            );
            Err(Refusal::ComponentFailed)
        }
        Err(_no_response) => match task.await {
            Ok(Ok(())) => Err(Refusal::NoResponse),
            Ok(Err(Failure::Timeout)) => Err(Refusal::Timeout {
                after: served.timeout,
            }),
            Ok(Err(Failure::Guest(error))) => {
                report_failure(&served.id, "component failed", &error);
                Err(Refusal::ComponentFailed)
            }
            Err(join) => {
                log::event(
                    log::Level::Error,
                    "instance task failed",
                    &[("component", &served.id), ("error", &join.to_string())],
                );
                Err(Refusal::ComponentFailed)
            }
        },
    }
}

fn report_failure(component: &str, message: &str, error: &wasmtime::Error) {
    // Wasmtime's chain names the trap and the guest backtrace; it carries no request data.
    log::event(
        log::Level::Error,
        message,
        &[("component", component), ("error", &format!("{error:#}"))],
    );
}
