//! `fermyon:spin/key-value@2.0.0`: the `store` resource over the stores spin.toml grants the
//! component. As under Spin, `open` of a label not in the component's `key_value_stores` is
//! `access-denied`, whether or not another component has that store; every granted label
//! has a store (in memory, see `stores`), so `no-such-store` never happens here.
//!
//! An instance may hold at most [`MAX_OPEN_STORES`] handles at once; one more `open` is
//! `store-table-full`, so a guest opening stores in a loop cannot grow the resource table
//! without bound (spin-sdk drops its handle with each `Store` value).

use std::sync::Arc;

use wasmtime::component::Resource;

use super::bindings::fermyon::spin::key_value::{Host, HostStore};
use super::stores::MemoryStore;
use super::{KeyValueError, SpinView};

/// Handles one instance may have open at once.
pub const MAX_OPEN_STORES: usize = 64;

/// An open store: what a `store` handle refers to in the resource table.
#[derive(Debug)]
pub struct OpenStore(Arc<MemoryStore>);

impl Host for SpinView<'_> {}

impl HostStore for SpinView<'_> {
    fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<OpenStore>, KeyValueError>> {
        let Some(store) = self.ctx.config.stores.get(&label) else {
            return Ok(Err(KeyValueError::AccessDenied));
        };
        if self.ctx.open_stores >= MAX_OPEN_STORES {
            return Ok(Err(KeyValueError::StoreTableFull));
        }
        let handle = self.table.push(OpenStore(Arc::clone(store)))?;
        self.ctx.open_stores = self.ctx.open_stores.saturating_add(1);
        Ok(Ok(handle))
    }

    fn get(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, KeyValueError>> {
        Ok(Ok(self.table.get(&store)?.0.get(&key)))
    }

    fn set(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), KeyValueError>> {
        Ok(self
            .table
            .get(&store)?
            .0
            .set(key, value)
            .map_err(|full| KeyValueError::Other(full.to_string())))
    }

    fn delete(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), KeyValueError>> {
        self.table.get(&store)?.0.delete(&key);
        Ok(Ok(()))
    }

    fn exists(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, KeyValueError>> {
        Ok(Ok(self.table.get(&store)?.0.exists(&key)))
    }

    fn get_keys(
        &mut self,
        store: Resource<OpenStore>,
    ) -> wasmtime::Result<Result<Vec<String>, KeyValueError>> {
        Ok(Ok(self.table.get(&store)?.0.keys()))
    }

    fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        self.ctx.open_stores = self.ctx.open_stores.saturating_sub(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::Arc;

    use wasmtime::component::{Resource, ResourceTable};

    use super::*;
    use crate::spin::stores::{ENTRY_OVERHEAD, Stores};
    use crate::spin::{SpinConfig, SpinCtx};

    /// One instance of a component: its Spin state and resource table, as `HostState` has.
    struct Instance {
        ctx: SpinCtx,
        table: ResourceTable,
    }

    impl Instance {
        fn of(config: &SpinConfig) -> Self {
            Self {
                ctx: SpinCtx::new(Arc::from("counter"), config.clone()),
                table: ResourceTable::new(),
            }
        }

        fn view(&mut self) -> SpinView<'_> {
            SpinView {
                ctx: &mut self.ctx,
                table: &mut self.table,
            }
        }

        fn open(&mut self, label: &str) -> Result<Resource<OpenStore>, KeyValueError> {
            HostStore::open(&mut self.view(), label.to_owned()).unwrap()
        }
    }

    fn granted(stores: &mut Stores, labels: &[&str]) -> SpinConfig {
        SpinConfig {
            stores: Arc::new(stores.grant(labels.iter().copied())),
            ..SpinConfig::default()
        }
    }

    #[test]
    fn what_one_instance_sets_a_later_instance_gets() {
        let mut stores = Stores::new(1024);
        let config = granted(&mut stores, &["default"]);

        let mut first = Instance::of(&config);
        let store = first.open("default").unwrap();
        let mut view = first.view();
        view.set(store.clone_handle(), "token".into(), b"ghs_1".to_vec())
            .unwrap()
            .unwrap();
        HostStore::drop(&mut view, store).unwrap();
        drop(first);

        let mut later = Instance::of(&config);
        let store = later.open("default").unwrap();
        let mut view = later.view();
        assert_eq!(
            view.get(store.clone_handle(), "token".into())
                .unwrap()
                .unwrap(),
            Some(b"ghs_1".to_vec())
        );
        assert!(
            view.exists(store.clone_handle(), "token".into())
                .unwrap()
                .unwrap()
        );
        assert_eq!(
            view.get_keys(store.clone_handle()).unwrap().unwrap(),
            vec!["token"]
        );
        view.delete(store.clone_handle(), "token".into())
            .unwrap()
            .unwrap();
        assert!(
            !view
                .exists(store.clone_handle(), "token".into())
                .unwrap()
                .unwrap()
        );
        assert_eq!(view.get(store, "token".into()).unwrap().unwrap(), None);
    }

    #[test]
    fn a_store_the_manifest_does_not_grant_is_access_denied() {
        let mut stores = Stores::new(1024);
        let owner = granted(&mut stores, &["default"]);
        let stranger = granted(&mut stores, &[]);
        assert!(matches!(
            Instance::of(&owner).open("cache"),
            Err(KeyValueError::AccessDenied)
        ));
        assert!(
            matches!(
                Instance::of(&stranger).open("default"),
                Err(KeyValueError::AccessDenied)
            ),
            "another component's store is not this one's"
        );
    }

    #[test]
    fn a_set_past_the_stores_cap_is_an_error_naming_the_store() {
        let mut stores = Stores::new(ENTRY_OVERHEAD + 8);
        let config = granted(&mut stores, &["default"]);
        let mut instance = Instance::of(&config);
        let store = instance.open("default").unwrap();
        let mut view = instance.view();
        view.set(store.clone_handle(), "k".into(), vec![0; 7])
            .unwrap()
            .unwrap();
        match view
            .set(store.clone_handle(), "l".into(), vec![0; 1])
            .unwrap()
        {
            Err(KeyValueError::Other(message)) => {
                assert!(message.contains("`default` is full"), "{message}");
            }
            other => panic!("expected a full store, got {other:?}"),
        }
        assert_eq!(view.get(store, "l".into()).unwrap().unwrap(), None);
    }

    #[test]
    fn an_instance_may_hold_only_so_many_open_stores() {
        let mut stores = Stores::new(1024);
        let config = granted(&mut stores, &["default"]);
        let mut instance = Instance::of(&config);
        let handles: Vec<_> = (0..MAX_OPEN_STORES)
            .map(|_| instance.open("default").unwrap())
            .collect();
        assert!(matches!(
            instance.open("default"),
            Err(KeyValueError::StoreTableFull)
        ));
        for handle in handles {
            HostStore::drop(&mut instance.view(), handle).unwrap();
        }
        assert!(instance.open("default").is_ok(), "closing makes room");
    }

    /// A borrowed copy of an owned handle, as the guest passes `borrow<store>`.
    trait CloneHandle {
        fn clone_handle(&self) -> Self;
    }

    impl CloneHandle for Resource<OpenStore> {
        fn clone_handle(&self) -> Self {
            Resource::new_borrow(self.rep())
        }
    }
}
