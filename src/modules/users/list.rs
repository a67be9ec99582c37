//! `GET /v1/users` and `/v1/users/count` parameters: filters and ordering.

use serde::Deserialize;

use crate::http::{ApiError, Pagination};

/// Query parameters, as Clerk's spec names them. Arrays are repeated keys;
/// the `name[]` spelling is accepted too. `user_id`, `external_id` and
/// `organization_id` values may carry Clerk's `+` (include, the default) or
/// `-` (exclude) prefix.
#[derive(Debug, Default, Deserialize)]
pub struct ListUsersParams {
    #[serde(default, alias = "email_address[]")]
    pub email_address: Vec<String>,
    #[serde(default, alias = "user_id[]")]
    pub user_id: Vec<String>,
    #[serde(default, alias = "external_id[]")]
    pub external_id: Vec<String>,
    #[serde(default, alias = "username[]")]
    pub username: Vec<String>,
    #[serde(default, alias = "phone_number[]")]
    pub phone_number: Vec<String>,
    #[serde(default, alias = "web3_wallet[]")]
    pub web3_wallet: Vec<String>,
    #[serde(default, alias = "organization_id[]")]
    pub organization_id: Vec<String>,
    #[serde(default, alias = "provider_user_id[]")]
    pub provider_user_id: Vec<String>,
    pub provider: Option<String>,
    pub query: Option<String>,
    pub email_address_query: Option<String>,
    pub phone_number_query: Option<String>,
    pub username_query: Option<String>,
    pub name_query: Option<String>,
    pub banned: Option<bool>,
    pub created_at_before: Option<i64>,
    pub created_at_after: Option<i64>,
    pub last_sign_in_at_before: Option<i64>,
    pub last_sign_in_at_after: Option<i64>,
    pub last_active_at_before: Option<i64>,
    pub last_active_at_after: Option<i64>,
    pub last_active_at_since: Option<i64>,
    pub order_by: Option<String>,
    pub starting_after: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Longest search string accepted.
const MAX_QUERY_LEN: usize = 256;
/// Most values accepted in one array filter.
const MAX_FILTER_VALUES: usize = 500;

/// Validated filters shared by the list and the count (and by the orgs
/// module's membership lists, through the users service).
#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    pub email_addresses: Vec<String>,
    pub user_ids: Vec<String>,
    pub excluded_user_ids: Vec<String>,
    pub external_ids: Vec<String>,
    pub excluded_external_ids: Vec<String>,
    pub usernames: Vec<String>,
    /// Organizations whose members the list is restricted to, and those
    /// whose members it leaves out. The service turns them into
    /// [`UserFilter::within`] and [`UserFilter::excluded_user_ids`] through
    /// the orgs service (the two modules may use different databases).
    pub organization_ids: Vec<String>,
    pub excluded_organization_ids: Vec<String>,
    /// Only these users (an organization's members); `None`: no restriction.
    pub within: Option<Vec<String>>,
    /// A filter no user can match in this version: phone numbers, web3
    /// wallets and external (OAuth) accounts do not exist yet, so asking
    /// for users that have given ones is answered, correctly, with none.
    pub matches_nothing: bool,
    pub query: Option<String>,
    pub email_address_query: Option<String>,
    pub username_query: Option<String>,
    pub name_query: Option<String>,
    pub banned: Option<bool>,
    pub created_at_before: Option<i64>,
    pub created_at_after: Option<i64>,
    pub last_sign_in_at_before: Option<i64>,
    pub last_sign_in_at_after: Option<i64>,
    pub last_active_at_before: Option<i64>,
    pub last_active_at_after: Option<i64>,
}

impl UserFilter {
    /// Whether any filter is set (an unfiltered selection needs no query).
    pub fn is_empty(&self) -> bool {
        self.email_addresses.is_empty()
            && self.user_ids.is_empty()
            && self.excluded_user_ids.is_empty()
            && self.external_ids.is_empty()
            && self.excluded_external_ids.is_empty()
            && self.usernames.is_empty()
            && self.organization_ids.is_empty()
            && self.excluded_organization_ids.is_empty()
            && self.within.is_none()
            && !self.matches_nothing
            && self.query.is_none()
            && self.email_address_query.is_none()
            && self.username_query.is_none()
            && self.name_query.is_none()
            && self.banned.is_none()
            && self.created_at_before.is_none()
            && self.created_at_after.is_none()
            && self.last_sign_in_at_before.is_none()
            && self.last_sign_in_at_after.is_none()
            && self.last_active_at_before.is_none()
            && self.last_active_at_after.is_none()
    }
}

/// Columns `order_by` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderField {
    CreatedAt,
    UpdatedAt,
    LastSignInAt,
    LastActiveAt,
    Username,
    FirstName,
    LastName,
    /// The primary email address.
    EmailAddress,
    /// Phone numbers and web3 wallets: no user has one in this version, so
    /// every value is null and the order is the tie-break (the id).
    Unset,
}

/// A validated `order_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub field: OrderField,
    pub descending: bool,
}

impl Default for Order {
    /// Clerk's default: newest first.
    fn default() -> Self {
        Self {
            field: OrderField::CreatedAt,
            descending: true,
        }
    }
}

impl Order {
    /// Parses `+field`, `-field` or `field` (ascending). A leading space is a
    /// `+` that arrived unescaped in a query string.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let (descending, name) = match raw.as_bytes().first() {
            Some(b'-') => (true, &raw[1..]),
            Some(b'+') | Some(b' ') => (false, &raw[1..]),
            _ => (false, raw),
        };
        let field =
            match name {
                "created_at" => OrderField::CreatedAt,
                "updated_at" => OrderField::UpdatedAt,
                "last_sign_in_at" => OrderField::LastSignInAt,
                "last_active_at" => OrderField::LastActiveAt,
                "username" => OrderField::Username,
                "first_name" => OrderField::FirstName,
                "last_name" => OrderField::LastName,
                "email_address" => OrderField::EmailAddress,
                "phone_number" | "web3wallet" => OrderField::Unset,
                _ => return Err(ApiError::param_value(
                    "order_by",
                    "order_by must be one of created_at, updated_at, email_address, web3wallet, \
                     first_name, last_name, phone_number, username, last_active_at, \
                     last_sign_in_at, with an optional + or - prefix.",
                )),
            };
        Ok(Self { field, descending })
    }
}

impl ListUsersParams {
    /// The validated filter.
    pub fn filter(&self) -> Result<UserFilter, ApiError> {
        for (param, values) in [
            ("email_address", &self.email_address),
            ("user_id", &self.user_id),
            ("external_id", &self.external_id),
            ("username", &self.username),
            ("phone_number", &self.phone_number),
            ("web3_wallet", &self.web3_wallet),
            ("organization_id", &self.organization_id),
            ("provider_user_id", &self.provider_user_id),
        ] {
            if values.len() > MAX_FILTER_VALUES {
                return Err(ApiError::param_value(
                    param,
                    format!("At most {MAX_FILTER_VALUES} values may be given for {param}."),
                ));
            }
        }
        // The spec pairs them: a provider without ids (or ids without a
        // provider) names no account.
        match (&self.provider, self.provider_user_id.is_empty()) {
            (Some(_), true) => return Err(ApiError::param_missing("provider_user_id")),
            (None, false) => return Err(ApiError::param_missing("provider")),
            _ => {}
        }
        let (user_ids, excluded_user_ids) = split_signed(&self.user_id);
        let (external_ids, excluded_external_ids) = split_signed(&self.external_id);
        let (organization_ids, excluded_organization_ids) = split_signed(&self.organization_id);
        let phone_number_query = search("phone_number_query", &self.phone_number_query)?;
        Ok(UserFilter {
            email_addresses: lowercase_all(&self.email_address),
            user_ids,
            excluded_user_ids,
            external_ids,
            excluded_external_ids,
            usernames: lowercase_all(&self.username),
            organization_ids,
            excluded_organization_ids,
            within: None,
            matches_nothing: !self.phone_number.is_empty()
                || !self.web3_wallet.is_empty()
                || self.provider.is_some()
                || phone_number_query.is_some(),
            query: search("query", &self.query)?,
            email_address_query: search("email_address_query", &self.email_address_query)?,
            username_query: search("username_query", &self.username_query)?,
            name_query: search("name_query", &self.name_query)?,
            banned: self.banned,
            created_at_before: self.created_at_before,
            created_at_after: self.created_at_after,
            last_sign_in_at_before: self.last_sign_in_at_before,
            last_sign_in_at_after: self.last_sign_in_at_after,
            last_active_at_before: self.last_active_at_before,
            last_active_at_after: self.last_active_at_after.or(self.last_active_at_since),
        })
    }

    /// The validated ordering.
    pub fn order(&self) -> Result<Order, ApiError> {
        self.order_by
            .as_deref()
            .map_or_else(|| Ok(Order::default()), Order::parse)
    }

    /// The validated page.
    pub fn pagination(&self) -> Result<Pagination, ApiError> {
        Pagination::new(self.limit, self.offset)
    }

    /// The first filter parameter given, to name in an error about the
    /// filtering as a whole.
    pub fn first_filter_param(&self) -> &'static str {
        let lists = [
            ("user_id", &self.user_id),
            ("email_address", &self.email_address),
            ("username", &self.username),
            ("external_id", &self.external_id),
            ("phone_number", &self.phone_number),
            ("web3_wallet", &self.web3_wallet),
            ("organization_id", &self.organization_id),
        ];
        let others = [
            ("query", self.query.is_some()),
            ("email_address_query", self.email_address_query.is_some()),
            ("phone_number_query", self.phone_number_query.is_some()),
            ("username_query", self.username_query.is_some()),
            ("name_query", self.name_query.is_some()),
            ("banned", self.banned.is_some()),
            ("created_at_before", self.created_at_before.is_some()),
            ("created_at_after", self.created_at_after.is_some()),
            (
                "last_sign_in_at_before",
                self.last_sign_in_at_before.is_some(),
            ),
            (
                "last_sign_in_at_after",
                self.last_sign_in_at_after.is_some(),
            ),
            (
                "last_active_at_before",
                self.last_active_at_before.is_some(),
            ),
            ("last_active_at_after", self.last_active_at_after.is_some()),
            ("last_active_at_since", self.last_active_at_since.is_some()),
            ("provider", self.provider.is_some()),
        ];
        lists
            .into_iter()
            .find(|(_, values)| !values.is_empty())
            .map(|(param, _)| param)
            .or_else(|| {
                others
                    .into_iter()
                    .find(|(_, set)| *set)
                    .map(|(param, _)| param)
            })
            .unwrap_or("query")
    }

    /// The validated `starting_after` cursor: only over `created_at` (the
    /// one order whose key is unique with the id and never changes, so a
    /// cursor neither skips nor repeats users) and not with an offset.
    pub fn cursor(&self, order: Order) -> Result<Option<String>, ApiError> {
        let Some(cursor) = self.starting_after.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if cursor.is_empty() {
            return Ok(None);
        }
        if order.field != OrderField::CreatedAt {
            return Err(ApiError::param_value(
                "starting_after",
                "starting_after requires ordering by created_at.",
            ));
        }
        if self.offset.unwrap_or(0) != 0 {
            return Err(ApiError::param_value(
                "starting_after",
                "starting_after cannot be combined with a non-zero offset.",
            ));
        }
        Ok(Some(cursor.to_owned()))
    }
}

/// A search string: trimmed, lower-cased, `None` when empty.
fn search(param: &str, value: &Option<String>) -> Result<Option<String>, ApiError> {
    match value.as_deref().map(str::trim) {
        Some(text) if text.chars().count() > MAX_QUERY_LEN => {
            Err(ApiError::param_too_long(param, MAX_QUERY_LEN))
        }
        Some(text) if !text.is_empty() => Ok(Some(text.to_lowercase())),
        _ => Ok(None),
    }
}

/// Splits Clerk's signed list into the values to include (no prefix or
/// `+`) and those to exclude (`-`). A `+` that arrived unescaped in a query
/// string is a space.
pub fn split_signed(values: &[String]) -> (Vec<String>, Vec<String>) {
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    for value in values {
        let value = value.trim_end();
        if let Some(rest) = value.strip_prefix('-') {
            exclude.push(rest.to_owned());
        } else {
            let rest = value.strip_prefix(['+', ' ']).unwrap_or(value);
            include.push(rest.to_owned());
        }
    }
    (include, exclude)
}

fn lowercase_all(values: &[String]) -> Vec<String> {
    values.iter().map(|v| v.trim().to_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_lists() {
        let values = ["a", "+b", " c", "-d"].map(str::to_owned);
        assert_eq!(
            split_signed(&values),
            (vec!["a".into(), "b".into(), "c".into()], vec!["d".into()])
        );
    }

    #[test]
    fn order_by_forms() {
        assert_eq!(
            Order::parse("-created_at").expect("valid"),
            Order {
                field: OrderField::CreatedAt,
                descending: true
            }
        );
        assert!(!Order::parse("+updated_at").expect("valid").descending);
        assert!(!Order::parse(" updated_at").expect("valid").descending);
        assert_eq!(
            Order::parse("email_address").expect("valid").field,
            OrderField::EmailAddress
        );
        assert!(Order::parse("password").is_err());
        assert!(Order::parse("").is_err());
    }
}
