//! `GET /v1/users` and `/v1/users/count` parameters: filters and ordering.

use serde::Deserialize;

use crate::http::{ApiError, Pagination};

/// Query parameters, as Clerk's spec names them. Arrays are repeated keys;
/// the `name[]` spelling is accepted too.
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
    pub last_active_at_since: Option<i64>,
    pub order_by: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Longest search string accepted.
const MAX_QUERY_LEN: usize = 256;
/// Most values accepted in one array filter.
const MAX_FILTER_VALUES: usize = 500;

/// Validated filters shared by the list and the count.
#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    pub email_addresses: Vec<String>,
    pub user_ids: Vec<String>,
    pub external_ids: Vec<String>,
    pub usernames: Vec<String>,
    /// A filter no user can match in this version (phone numbers, web3
    /// wallets and organizations do not exist yet): the answer is empty.
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
        let field = match name {
            "created_at" => OrderField::CreatedAt,
            "updated_at" => OrderField::UpdatedAt,
            "last_sign_in_at" => OrderField::LastSignInAt,
            "last_active_at" => OrderField::LastActiveAt,
            "username" => OrderField::Username,
            "first_name" => OrderField::FirstName,
            "last_name" => OrderField::LastName,
            _ => {
                return Err(ApiError::param_value(
                    "order_by",
                    "order_by must be one of created_at, updated_at, last_sign_in_at, \
                     last_active_at, username, first_name, last_name, with an optional + or - prefix.",
                ))
            }
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
        ] {
            if values.len() > MAX_FILTER_VALUES {
                return Err(ApiError::param_value(
                    param,
                    format!("At most {MAX_FILTER_VALUES} values may be given for {param}."),
                ));
            }
        }
        let search = |param: &str, value: &Option<String>| -> Result<Option<String>, ApiError> {
            match value.as_deref().map(str::trim) {
                Some(text) if text.chars().count() > MAX_QUERY_LEN => {
                    Err(ApiError::param_too_long(param, MAX_QUERY_LEN))
                }
                Some(text) if !text.is_empty() => Ok(Some(text.to_lowercase())),
                _ => Ok(None),
            }
        };
        Ok(UserFilter {
            email_addresses: lowercase_all(&self.email_address),
            user_ids: self.user_id.clone(),
            external_ids: self.external_id.clone(),
            usernames: lowercase_all(&self.username),
            matches_nothing: !self.phone_number.is_empty()
                || !self.web3_wallet.is_empty()
                || !self.organization_id.is_empty(),
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
}

fn lowercase_all(values: &[String]) -> Vec<String> {
    values.iter().map(|v| v.trim().to_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(Order::parse("password").is_err());
        assert!(Order::parse("").is_err());
    }
}
