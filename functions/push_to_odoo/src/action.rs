//! Which actions may be pushed to Odoo, and what their `args` must look like.
//!
//! Built in: `account.move.post {id: positive integer}` and
//! `res.partner.update {id: positive integer, values: object}`. `ODOO_ALLOWED_ACTIONS`
//! (comma-separated names) allows more; their `args` may be any object.

use core::fmt;

use serde_json::{Map, Value};

/// Posts a draft invoice or journal entry.
pub(crate) const ACCOUNT_MOVE_POST: &str = "account.move.post";
/// Writes fields of a contact.
pub(crate) const RES_PARTNER_UPDATE: &str = "res.partner.update";

/// The actions this deployment pushes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AllowList {
    extra: Vec<String>,
}

/// Why a row's action is not pushed; stored as the row's `last_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum InvalidAction {
    /// The action is not on the allow-list.
    NotAllowed(String),
    /// A required argument is absent.
    MissingArg {
        /// The action.
        action: &'static str,
        /// The argument.
        arg: &'static str,
    },
    /// An argument has the wrong type or value.
    InvalidArg {
        /// The action.
        action: &'static str,
        /// The argument.
        arg: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// An argument the action does not take.
    UnexpectedArg {
        /// The action.
        action: &'static str,
        /// The argument's name.
        arg: String,
    },
    /// `args` is not a JSON object.
    ArgsNotAnObject,
}

impl fmt::Display for InvalidAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAllowed(action) => write!(
                f,
                "action `{action}` is not allowed (built in: {ACCOUNT_MOVE_POST}, {RES_PARTNER_UPDATE}; more through ODOO_ALLOWED_ACTIONS)"
            ),
            Self::MissingArg { action, arg } => write!(f, "{action}: args.{arg} is required"),
            Self::InvalidArg {
                action,
                arg,
                expected,
            } => write!(f, "{action}: args.{arg} must be {expected}"),
            Self::UnexpectedArg { action, arg } => {
                write!(f, "{action}: args.{arg} is not an argument of this action")
            }
            Self::ArgsNotAnObject => f.write_str("args must be a JSON object"),
        }
    }
}

impl std::error::Error for InvalidAction {}

impl AllowList {
    /// The built-in actions plus the comma-separated names in `extra` (blanks ignored).
    #[must_use]
    pub(crate) fn with_extra(extra: Option<&str>) -> Self {
        Self {
            extra: extra
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Checks `action` and its `args`.
    ///
    /// # Errors
    /// [`InvalidAction`] naming the action and the argument at fault.
    pub(crate) fn check(&self, action: &str, args: &Value) -> Result<(), InvalidAction> {
        let args = args.as_object().ok_or(InvalidAction::ArgsNotAnObject)?;
        match action {
            ACCOUNT_MOVE_POST => {
                only(ACCOUNT_MOVE_POST, args, &["id"])?;
                positive_id(ACCOUNT_MOVE_POST, args)
            }
            RES_PARTNER_UPDATE => {
                only(RES_PARTNER_UPDATE, args, &["id", "values"])?;
                positive_id(RES_PARTNER_UPDATE, args)?;
                match args.get("values") {
                    None | Some(Value::Null) => Err(InvalidAction::MissingArg {
                        action: RES_PARTNER_UPDATE,
                        arg: "values",
                    }),
                    Some(Value::Object(_)) => Ok(()),
                    Some(_) => Err(InvalidAction::InvalidArg {
                        action: RES_PARTNER_UPDATE,
                        arg: "values",
                        expected: "an object of field values",
                    }),
                }
            }
            other if self.extra.iter().any(|name| name == other) => Ok(()),
            other => Err(InvalidAction::NotAllowed(other.to_owned())),
        }
    }
}

fn only(
    action: &'static str,
    args: &Map<String, Value>,
    known: &[&str],
) -> Result<(), InvalidAction> {
    match args.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(InvalidAction::UnexpectedArg {
            action,
            arg: key.clone(),
        }),
        None => Ok(()),
    }
}

fn positive_id(action: &'static str, args: &Map<String, Value>) -> Result<(), InvalidAction> {
    match args.get("id") {
        None | Some(Value::Null) => Err(InvalidAction::MissingArg { action, arg: "id" }),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|id| id > 0) => Ok(()),
        Some(_) => Err(InvalidAction::InvalidArg {
            action,
            arg: "id",
            expected: "a positive integer",
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn builtins() -> AllowList {
        AllowList::with_extra(None)
    }

    #[test]
    fn account_move_post_with_an_id() {
        assert_eq!(
            builtins().check(ACCOUNT_MOVE_POST, &json!({"id": 7})),
            Ok(())
        );
    }

    #[test]
    fn res_partner_update_with_id_and_values() {
        let args = json!({"id": 3, "values": {"email": "a@b.c"}});
        assert_eq!(builtins().check(RES_PARTNER_UPDATE, &args), Ok(()));
    }

    #[test]
    fn unknown_action() {
        let err = builtins()
            .check("res.users.unlink", &json!({}))
            .unwrap_err();
        assert_eq!(err, InvalidAction::NotAllowed("res.users.unlink".into()));
        assert!(
            err.to_string()
                .starts_with("action `res.users.unlink` is not allowed")
        );
    }

    #[test]
    fn configured_action_takes_any_object() {
        let list = AllowList::with_extra(Some(" sale.order.confirm , ,stock.picking.validate"));
        assert_eq!(
            list.check("sale.order.confirm", &json!({"id": 1, "x": [1]})),
            Ok(())
        );
        assert_eq!(list.check("stock.picking.validate", &json!({})), Ok(()));
        assert!(list.check("sale.order", &json!({})).is_err());
    }

    #[test]
    fn configured_action_still_needs_object_args() {
        let list = AllowList::with_extra(Some("x.y"));
        assert_eq!(
            list.check("x.y", &json!([1])),
            Err(InvalidAction::ArgsNotAnObject)
        );
    }

    #[test]
    fn builtin_schema_applies_even_when_listed_again() {
        let list = AllowList::with_extra(Some(ACCOUNT_MOVE_POST));
        assert!(list.check(ACCOUNT_MOVE_POST, &json!({})).is_err());
    }

    #[test]
    fn missing_id() {
        assert_eq!(
            builtins().check(ACCOUNT_MOVE_POST, &json!({})),
            Err(InvalidAction::MissingArg {
                action: ACCOUNT_MOVE_POST,
                arg: "id"
            })
        );
    }

    #[test]
    fn zero_id() {
        let err = builtins()
            .check(ACCOUNT_MOVE_POST, &json!({"id": 0}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "account.move.post: args.id must be a positive integer"
        );
    }

    #[test]
    fn negative_id() {
        assert!(
            builtins()
                .check(ACCOUNT_MOVE_POST, &json!({"id": -4}))
                .is_err()
        );
    }

    #[test]
    fn string_id() {
        assert!(
            builtins()
                .check(ACCOUNT_MOVE_POST, &json!({"id": "7"}))
                .is_err()
        );
    }

    #[test]
    fn fractional_id() {
        assert!(
            builtins()
                .check(ACCOUNT_MOVE_POST, &json!({"id": 7.5}))
                .is_err()
        );
    }

    #[test]
    fn unexpected_argument() {
        let err = builtins()
            .check(ACCOUNT_MOVE_POST, &json!({"id": 7, "force": true}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "account.move.post: args.force is not an argument of this action"
        );
    }

    #[test]
    fn partner_update_without_values() {
        assert_eq!(
            builtins().check(RES_PARTNER_UPDATE, &json!({"id": 3})),
            Err(InvalidAction::MissingArg {
                action: RES_PARTNER_UPDATE,
                arg: "values"
            })
        );
    }

    #[test]
    fn partner_update_with_list_values() {
        let err = builtins()
            .check(RES_PARTNER_UPDATE, &json!({"id": 3, "values": ["email"]}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "res.partner.update: args.values must be an object of field values"
        );
    }

    #[test]
    fn args_that_are_not_an_object() {
        assert_eq!(
            builtins().check(ACCOUNT_MOVE_POST, &json!("id=7")),
            Err(InvalidAction::ArgsNotAnObject)
        );
    }
}
