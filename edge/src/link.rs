//! How a component is linked: the one place that decides which host interfaces a component
//! gets. Today that is the WASI flavour (WASI 0.2 + wasi:http, config from environment
//! variables). The Spin flavour (`fermyon:spin/variables@2.0.0`, key-value) will be a second
//! [`Flavour`] with its own linker; both export `wasi:http/incoming-handler`, so everything after
//! linking stays the same.

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::host::HostState;

/// A family of host interfaces a component is linked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flavour {
    /// The wasi:http 0.2 proxy world: WASI 0.2 plus wasi:http.
    Wasi,
}

/// Why a component cannot be linked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The component imports Spin interfaces; this host serves the WASI flavour.
    #[error(
        "this is a Spin-flavour build (it imports `{import}`); the edge host serves the WASI flavour: point --components at dist/wasi"
    )]
    SpinFlavour {
        /// The first `fermyon:` import.
        import: String,
    },
    /// An import the flavour does not provide, or no `wasi:http/incoming-handler` export.
    #[error("not a wasi:http 0.2 proxy component the edge host can link: {0}")]
    Incompatible(String),
}

impl Flavour {
    /// The flavour a compiled component needs, judged by its imports.
    ///
    /// # Errors
    /// [`LinkError::SpinFlavour`] for a component importing `fermyon:*` interfaces.
    pub fn of(engine: &Engine, component: &Component) -> Result<Self, LinkError> {
        let component_type = component.component_type();
        let spin_import = component_type
            .imports(engine)
            .map(|(name, _)| name)
            .find(|name| name.starts_with("fermyon:"));
        match spin_import {
            Some(import) => Err(LinkError::SpinFlavour {
                import: import.to_owned(),
            }),
            None => Ok(Self::Wasi),
        }
    }

    /// A linker with this flavour's host interfaces.
    ///
    /// # Errors
    /// [`LinkError::Incompatible`] if the interfaces cannot be added (never expected).
    pub fn linker(self, engine: &Engine) -> Result<Linker<HostState>, LinkError> {
        let mut linker = Linker::new(engine);
        match self {
            Self::Wasi => {
                wasmtime_wasi::p2::add_to_linker_async(&mut linker)
                    .and_then(|()| {
                        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
                    })
                    .map_err(|e| LinkError::Incompatible(format!("{e:#}")))?;
            }
        }
        Ok(linker)
    }
}

/// Links `component` once, ready for a fresh instance per request.
///
/// # Errors
/// [`LinkError`] when the component needs imports the flavour lacks or has no
/// `wasi:http/incoming-handler` export.
pub fn prepare(engine: &Engine, component: &Component) -> Result<ProxyPre<HostState>, LinkError> {
    let flavour = Flavour::of(engine, component)?;
    let linker = flavour.linker(engine)?;
    let instance_pre = linker
        .instantiate_pre(component)
        .map_err(|e| LinkError::Incompatible(format!("{e:#}")))?;
    ProxyPre::new(instance_pre).map_err(|e| LinkError::Incompatible(format!("{e:#}")))
}
