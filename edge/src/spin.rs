//! The Spin flavour's host interfaces: what spin-sdk 5.2 components import beyond WASI 0.2
//! and wasi:http, namely `fermyon:spin/variables@2.0.0` and `fermyon:spin/key-value@2.0.0`.
//! The bindings come from spin-sdk's own WIT (edge/wit/spin@2.0.0); the answers live where
//! their question is: `variables` for a component's variables, `key_value` for the store
//! resource, `stores` for the in-memory stores behind it.

pub mod key_value;
pub mod stores;
pub mod variables;

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, ResourceTable};

use crate::variables::ComponentVariables;

use self::stores::Granted;

/// Host bindings generated from spin-sdk's WIT.
///
/// The WIT is copied byte for byte from the spin-sdk crate rather than located by a build
/// script: the edge host does not depend on spin-sdk (only the wasm32 builds do), so its
/// sources need not be on disk when the host is built, and a build must not read files
/// outside the package. edge/tests/spin_wit.rs compares the copies with the spin-sdk crate
/// Cargo.lock pins and fails when they differ, so an upgrade cannot leave them behind.
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin@2.0.0",
        // Only the two interfaces the edge host implements; a component importing any other
        // Spin interface fails to link with a message naming it (see `link`).
        inline: "
            package pulser:edge;

            world spin-host {
                import fermyon:spin/variables@2.0.0;
                import fermyon:spin/key-value@2.0.0;
            }
        ",
        world: "pulser:edge/spin-host",
        // Trappable: a handle missing from the resource table is a host bug, not an answer
        // the guest can act on, so it traps the instance instead of returning an error.
        imports: { default: trappable },
        with: {
            "fermyon:spin/key-value.store": super::key_value::OpenStore,
        },
    });
}

pub use bindings::fermyon::spin::key_value::Error as KeyValueError;
pub use bindings::fermyon::spin::variables::Error as VariablesError;

/// The Spin imports the edge host implements, as a component names them.
pub const IMPLEMENTED_IMPORTS: [&str; 2] = [
    "fermyon:spin/variables@2.0.0",
    "fermyon:spin/key-value@2.0.0",
];

/// What every instance of one Spin-flavour component is given: its variables, resolved once
/// at start-up, and the key-value stores spin.toml grants it.
#[derive(Debug, Clone, Default)]
pub struct SpinConfig {
    /// `[component.<id>.variables]`, rendered.
    pub variables: Arc<ComponentVariables>,
    /// `key_value_stores`, each label with its process-wide store.
    pub stores: Arc<Granted>,
}

/// One instance's Spin state: the component's config and the stores it has open.
#[derive(Debug)]
pub struct SpinCtx {
    component: Arc<str>,
    config: SpinConfig,
    open_stores: usize,
}

impl SpinCtx {
    /// State for one instance of `component`. A WASI-flavour component gets an empty config
    /// it never reaches: its linker has no Spin interfaces.
    #[must_use]
    pub fn new(component: Arc<str>, config: SpinConfig) -> Self {
        Self {
            component,
            config,
            open_stores: 0,
        }
    }
}

/// The Spin interfaces' view of one instance: its Spin state and the resource table it shares
/// with WASI and wasi:http.
pub struct SpinView<'a> {
    /// The instance's Spin state.
    pub ctx: &'a mut SpinCtx,
    /// The instance's resource table.
    pub table: &'a mut ResourceTable,
}

/// Anything a store's data can lend a [`SpinView`] from.
pub trait SpinHostView: Send {
    /// This instance's view.
    fn spin(&mut self) -> SpinView<'_>;
}

struct HasSpin;

impl HasData for HasSpin {
    type Data<'a> = SpinView<'a>;
}

/// Adds `fermyon:spin/variables@2.0.0` and `fermyon:spin/key-value@2.0.0` to `linker`.
///
/// # Errors
/// Wasmtime's, if an interface is already defined (never expected).
pub fn add_to_linker<T: SpinHostView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    bindings::SpinHost::add_to_linker::<T, HasSpin>(linker, T::spin)
}
