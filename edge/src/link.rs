//! How a component is linked: the one place that decides which host interfaces a component
//! gets. Two flavours, told apart by the component's imports (or forced with `--flavour`):
//!
//! - WASI: WASI 0.2 + wasi:http; config arrives as environment variables.
//! - Spin: the same, plus the Spin interfaces spin-sdk components import
//!   (`fermyon:spin/variables@2.0.0`, `fermyon:spin/key-value@2.0.0`, see `spin`).
//!
//! Both export `wasi:http/incoming-handler`, so everything after linking (routing, limits,
//! the outbound allow-list, admission) is the same for both.

use std::fmt;

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::host::HostState;
use crate::spin;

/// A family of host interfaces a component is linked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// The wasi:http 0.2 proxy world: WASI 0.2 plus wasi:http.
    Wasi,
    /// A Spin build: the proxy world plus Spin's variables and key-value interfaces.
    Spin,
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Wasi => "wasi",
            Self::Spin => "spin",
        })
    }
}

/// Why a component cannot be linked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// `--flavour wasi` for a component that imports Spin interfaces.
    #[error(
        "--flavour wasi, but this is a Spin-flavour build (it imports `{import}`): point --components at the WASI builds (dist/wasi), or leave --flavour at auto"
    )]
    NotWasi {
        /// The first Spin import.
        import: String,
    },
    /// `--flavour spin` for a component that imports no Spin interface.
    #[error(
        "--flavour spin, but this is a WASI-flavour build (it imports no fermyon: or spin: interface): point --components at the Spin builds (dist/spin), or leave --flavour at auto"
    )]
    NotSpin,
    /// A Spin interface the edge host does not implement.
    #[error(
        "it imports `{import}`, a Spin interface the edge host does not implement (of Spin's interfaces it serves {})",
        spin::IMPLEMENTED_IMPORTS.join(" and ")
    )]
    UnsupportedSpinInterface {
        /// The import.
        import: String,
    },
    /// An import the flavour does not provide, or no `wasi:http/incoming-handler` export.
    #[error("not a wasi:http 0.2 proxy component the edge host can link: {0}")]
    Incompatible(String),
}

/// Whether an import belongs to Spin: `fermyon:*` (spin-sdk's `fermyon:spin/...`) or
/// `spin:*` (Spin 3's `spin:postgres`, `spin:sqlite`, ...).
fn is_spin_import(name: &str) -> bool {
    name.starts_with("fermyon:") || name.starts_with("spin:")
}

/// The component's imports, by name.
fn imports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect()
}

impl Flavour {
    /// The flavour a compiled component was built for, judged by its imports: any Spin import
    /// makes it a Spin build.
    #[must_use]
    pub fn of(engine: &Engine, component: &Component) -> Self {
        if imports(engine, component)
            .iter()
            .any(|name| is_spin_import(name))
        {
            Self::Spin
        } else {
            Self::Wasi
        }
    }

    /// The flavour to link `component` as: `forced` (from `--flavour`) if it matches what
    /// the component imports, else what it imports.
    ///
    /// # Errors
    /// [`LinkError::NotWasi`] or [`LinkError::NotSpin`] when `forced` does not match.
    pub fn choose(
        forced: Option<Self>,
        engine: &Engine,
        component: &Component,
    ) -> Result<Self, LinkError> {
        let found = Self::of(engine, component);
        match (forced, found) {
            (Some(Self::Wasi), Self::Spin) => Err(LinkError::NotWasi {
                import: imports(engine, component)
                    .into_iter()
                    .find(|name| is_spin_import(name))
                    .unwrap_or_default(),
            }),
            (Some(Self::Spin), Self::Wasi) => Err(LinkError::NotSpin),
            _ => Ok(found),
        }
    }

    /// A linker with this flavour's host interfaces.
    ///
    /// # Errors
    /// [`LinkError::Incompatible`] if the interfaces cannot be added (never expected).
    pub fn linker(self, engine: &Engine) -> Result<Linker<HostState>, LinkError> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker))
            .and_then(|()| match self {
                Self::Wasi => Ok(()),
                Self::Spin => spin::add_to_linker(&mut linker),
            })
            .map_err(|e| LinkError::Incompatible(format!("{e:#}")))?;
        Ok(linker)
    }
}

/// Links `component` as `flavour` once, ready to instantiate for any request.
///
/// # Errors
/// [`LinkError`] when the component needs imports the flavour lacks (naming a Spin interface
/// the host does not implement, if that is the reason) or has no
/// `wasi:http/incoming-handler` export.
pub fn prepare(
    engine: &Engine,
    component: &Component,
    flavour: Flavour,
) -> Result<ProxyPre<HostState>, LinkError> {
    let linker = flavour.linker(engine)?;
    let instance_pre = linker.instantiate_pre(component).map_err(|e| {
        let unsupported = imports(engine, component).into_iter().find(|name| {
            is_spin_import(name) && !spin::IMPLEMENTED_IMPORTS.contains(&name.as_str())
        });
        match unsupported {
            Some(import) if flavour == Flavour::Spin => {
                LinkError::UnsupportedSpinInterface { import }
            }
            _ => LinkError::Incompatible(format!("{e:#}")),
        }
    })?;
    ProxyPre::new(instance_pre).map_err(|e| LinkError::Incompatible(format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use wasm_encoder::{
        ComponentImportSection, ComponentTypeRef, ComponentTypeSection, ComponentValType,
        InstanceType, PrimitiveValType, TypeBounds,
    };

    use super::*;

    /// A component that imports each of `imports` as an instance with one function,
    /// `f: func()`, and exports nothing: all flavour detection looks at is the import names.
    /// (An import of an instance with nothing in it would link against anything.)
    fn importing(engine: &Engine, imports: &[&str]) -> Component {
        let mut instance = InstanceType::new();
        let no_params: [(&str, ComponentValType); 0] = [];
        instance.ty().function().params(no_params).result(None);
        instance.export("f", ComponentTypeRef::Func(0));
        let mut types = ComponentTypeSection::new();
        types.instance(&instance);
        let mut section = ComponentImportSection::new();
        for name in imports {
            section.import(*name, ComponentTypeRef::Instance(0));
        }
        let mut component = wasm_encoder::Component::new();
        component.section(&types).section(&section);
        Component::new(engine, component.finish()).unwrap()
    }

    /// A component importing `fermyon:spin/variables@2.0.0` with its WIT type:
    /// `get: func(name: string) -> result<string, error>`.
    fn importing_spin_variables(engine: &Engine) -> Component {
        let string = ComponentValType::Primitive(PrimitiveValType::String);
        let mut instance = InstanceType::new();
        instance.ty().defined_type().variant([
            ("invalid-name", Some(string)),
            ("undefined", Some(string)),
            ("provider", Some(string)),
            ("other", Some(string)),
        ]);
        instance.export("error", ComponentTypeRef::Type(TypeBounds::Eq(0)));
        instance
            .ty()
            .defined_type()
            .result(Some(string), Some(ComponentValType::Type(1)));
        instance
            .ty()
            .function()
            .params([("name", string)])
            .result(Some(ComponentValType::Type(2)));
        instance.export("get", ComponentTypeRef::Func(3));
        let mut types = ComponentTypeSection::new();
        types.instance(&instance);
        let mut imports = ComponentImportSection::new();
        imports.import(
            "fermyon:spin/variables@2.0.0",
            ComponentTypeRef::Instance(0),
        );
        let mut component = wasm_encoder::Component::new();
        component.section(&types).section(&imports);
        Component::new(engine, component.finish()).unwrap()
    }

    #[test]
    fn a_fermyon_or_spin_import_makes_a_spin_build() {
        let engine = Engine::default();
        let wasi = importing(&engine, &["wasi:cli/environment@0.2.12"]);
        assert_eq!(Flavour::of(&engine, &wasi), Flavour::Wasi);
        for spin_import in ["fermyon:spin/variables@2.0.0", "spin:sqlite/sqlite@3.0.0"] {
            let spin = importing(&engine, &["wasi:cli/environment@0.2.12", spin_import]);
            assert_eq!(Flavour::of(&engine, &spin), Flavour::Spin, "{spin_import}");
        }
        let nothing = importing(&engine, &[]);
        assert_eq!(Flavour::of(&engine, &nothing), Flavour::Wasi);
    }

    #[test]
    fn auto_takes_the_flavour_the_component_imports() {
        let engine = Engine::default();
        let wasi = importing(&engine, &["wasi:cli/environment@0.2.12"]);
        let spin = importing(&engine, &["fermyon:spin/key-value@2.0.0"]);
        assert_eq!(Flavour::choose(None, &engine, &wasi), Ok(Flavour::Wasi));
        assert_eq!(Flavour::choose(None, &engine, &spin), Ok(Flavour::Spin));
        assert_eq!(
            Flavour::choose(Some(Flavour::Spin), &engine, &spin),
            Ok(Flavour::Spin)
        );
        assert_eq!(
            Flavour::choose(Some(Flavour::Wasi), &engine, &wasi),
            Ok(Flavour::Wasi)
        );
    }

    #[test]
    fn a_forced_flavour_the_component_does_not_match_is_refused() {
        let engine = Engine::default();
        let wasi = importing(&engine, &["wasi:cli/environment@0.2.12"]);
        let spin = importing(
            &engine,
            &[
                "wasi:cli/environment@0.2.12",
                "fermyon:spin/variables@2.0.0",
            ],
        );
        let not_wasi = Flavour::choose(Some(Flavour::Wasi), &engine, &spin).unwrap_err();
        assert_eq!(
            not_wasi,
            LinkError::NotWasi {
                import: "fermyon:spin/variables@2.0.0".into()
            }
        );
        assert!(
            not_wasi.to_string().contains("Spin-flavour build"),
            "{not_wasi}"
        );
        assert!(not_wasi.to_string().contains("dist/wasi"), "{not_wasi}");
        let not_spin = Flavour::choose(Some(Flavour::Spin), &engine, &wasi).unwrap_err();
        assert_eq!(not_spin, LinkError::NotSpin);
        assert!(
            not_spin.to_string().contains("WASI-flavour build"),
            "{not_spin}"
        );
        assert!(not_spin.to_string().contains("dist/spin"), "{not_spin}");
    }

    #[test]
    fn only_the_spin_linker_has_spins_variables() {
        let engine = Engine::default();
        let component = importing_spin_variables(&engine);
        let spin = Flavour::Spin.linker(&engine).unwrap();
        assert!(spin.instantiate_pre(&component).is_ok());
        let wasi = Flavour::Wasi.linker(&engine).unwrap();
        assert!(wasi.instantiate_pre(&component).is_err());
    }

    #[test]
    fn a_spin_interface_the_host_lacks_is_named() {
        let engine = Engine::default();
        let component = importing(&engine, &["fermyon:spin/llm@2.0.0"]);
        let Err(err) = prepare(&engine, &component, Flavour::Spin) else {
            panic!("linked although the host lacks fermyon:spin/llm");
        };
        assert_eq!(
            err,
            LinkError::UnsupportedSpinInterface {
                import: "fermyon:spin/llm@2.0.0".into()
            }
        );
        let message = err.to_string();
        assert!(
            message.contains("fermyon:spin/key-value@2.0.0"),
            "{message}"
        );
    }

    #[test]
    fn a_component_without_the_http_handler_is_incompatible() {
        let engine = Engine::default();
        for flavour in [Flavour::Wasi, Flavour::Spin] {
            let component = importing(&engine, &[]);
            assert!(
                matches!(
                    prepare(&engine, &component, flavour),
                    Err(LinkError::Incompatible(_))
                ),
                "{flavour}"
            );
        }
    }
}
