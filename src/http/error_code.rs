//! The stable error codes of Clerk-style errors, and the HTTP status each
//! answers with.

use actix_web::http::StatusCode;

/// Stable error codes. Clients branch on these; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 401: no `Authorization: Bearer sk_…` header, or not in that format.
    AuthorizationHeaderFormatInvalid,
    /// 401: the secret key is not one of this instance's keys.
    ClerkKeyInvalid,
    /// 400: the request is malformed in a way no more specific code names.
    BadRequest,
    /// 400: the body is not valid JSON (or form data).
    MalformedRequestBody,
    /// 413: the body is larger than `server.max_body_bytes`.
    RequestBodyTooLarge,
    /// 404: the path or the object it names does not exist.
    ResourceNotFound,
    /// 422: a required parameter is absent.
    FormParamMissing,
    /// 422: a parameter has the wrong type or format.
    FormParamFormatInvalid,
    /// 422: a parameter is well-formed but its value is not allowed.
    FormParamValueInvalid,
    /// 422: a parameter this endpoint does not support.
    FormParamUnknown,
    /// 422: a parameter is longer than allowed.
    FormParamMaxLengthExceeded,
    /// 422: an email address, username or external id belongs to another user.
    FormIdentifierExists,
    /// 422: a username is too short or too long.
    FormUsernameInvalidLength,
    /// 422: a username contains characters that are not allowed.
    FormUsernameInvalidCharacter,
    /// 422: a password is shorter than the policy allows.
    FormPasswordLengthTooShort,
    /// 422: a password is longer than the policy allows.
    FormPasswordLengthTooLong,
    /// 422: the password given to verify_password does not match.
    IncorrectPassword,
    /// 422: the user has no password to verify.
    PasswordNotSet,
    /// 409: a concurrent change conflicted with this one.
    Conflict,
    /// 403: a browser request from an origin this instance does not allow.
    OriginInvalid,
    /// 422: no user has this identifier.
    FormIdentifierNotFound,
    /// 422: the password does not match.
    FormPasswordIncorrect,
    /// 422: the verification code does not match.
    FormCodeIncorrect,
    /// 422: the code or attempt has expired.
    VerificationExpired,
    /// 429: too many failed attempts at this verification.
    VerificationFailed,
    /// 403: the user is locked after too many failed attempts.
    UserLocked,
    /// 403: the user is banned.
    UserBanned,
    /// 422: the strategy is not offered here.
    StrategyForUserInvalid,
    /// 422: a sign-in ticket is unknown, expired, revoked or used.
    TicketInvalid,
    /// 422: the user is already a member of the organization.
    AlreadyAMember,
    /// 403: the organization has reached `max_allowed_memberships`.
    MembershipQuotaExceeded,
    /// 403: the change would leave the organization without an admin.
    LastAdmin,
    /// 403: the caller's organization role lacks the permission.
    NotAuthorized,
    /// 403: the instance or the user's settings forbid this action.
    ActionNotAllowed,
    /// 401: the session does not exist for this client, or has ended.
    SignedOut,
    /// 422: the card was declined when charged or saved.
    CardDeclined,
    /// 422: the checkout needs a payment method and none was given.
    PaymentMethodRequired,
    /// 422: the payer cannot move to this plan (the same plan, a plan for
    /// the other payer type, an archived plan).
    InvalidPlanChange,
    /// 409: another confirmation of this checkout is being processed.
    CheckoutAlreadyInProgress,
    /// 400: an IdP's SAML answer was refused (signature, audience,
    /// lifetime, replay…); the reason is in the message and the log.
    SamlResponseInvalid,
    /// 400: an IdP's SAML answer came back without the RelayState sent.
    SamlResponseRelaystateMissing,
    /// 422: the IdP's answer lacks an attribute the connection needs (the
    /// email address).
    SamlUserAttributeMissing,
    /// 422: the IdP vouched for an email address outside its connection's
    /// domains.
    SamlEmailAddressDomainMismatch,
    /// 400: the OAuth callback is malformed, or its state is unknown,
    /// expired or used.
    OauthCallbackInvalid,
    /// 403: the person did not grant access at the provider.
    OauthAccessDenied,
    /// 400: the provider refused the authorization code, or its ID token
    /// did not verify.
    OauthTokenExchangeError,
    /// 400: the provider's user API failed.
    OauthFetchUserError,
    /// 400: this social connection is not enabled on the instance.
    OauthProviderNotEnabled,
    /// 400: the provider's email address belongs to another user and the
    /// provider did not vouch for it.
    OauthIdentificationClaimed,
    /// 400: the provider account is connected to another user.
    OauthAccountAlreadyConnected,
    /// 503: a database is unreachable; retry after `Retry-After` seconds.
    ServiceUnavailable,
    /// 500: a bug or an unexpected failure; details are in the server log.
    InternalServerError,
}

impl ErrorCode {
    /// The code as sent to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationHeaderFormatInvalid => "authorization_header_format_invalid",
            Self::ClerkKeyInvalid => "clerk_key_invalid",
            Self::BadRequest => "bad_request",
            Self::MalformedRequestBody => "malformed_request_body",
            Self::RequestBodyTooLarge => "request_body_too_large",
            Self::ResourceNotFound => "resource_not_found",
            Self::FormParamMissing => "form_param_missing",
            Self::FormParamFormatInvalid => "form_param_format_invalid",
            Self::FormParamValueInvalid => "form_param_value_invalid",
            Self::FormParamUnknown => "form_param_unknown",
            Self::FormParamMaxLengthExceeded => "form_param_max_length_exceeded",
            Self::FormIdentifierExists => "form_identifier_exists",
            Self::FormUsernameInvalidLength => "form_username_invalid_length",
            Self::FormUsernameInvalidCharacter => "form_username_invalid_character",
            Self::FormPasswordLengthTooShort => "form_password_length_too_short",
            Self::FormPasswordLengthTooLong => "form_password_length_too_long",
            Self::IncorrectPassword => "incorrect_password",
            Self::PasswordNotSet => "password_not_set",
            Self::Conflict => "conflict",
            Self::OriginInvalid => "origin_invalid",
            Self::FormIdentifierNotFound => "form_identifier_not_found",
            Self::FormPasswordIncorrect => "form_password_incorrect",
            Self::FormCodeIncorrect => "form_code_incorrect",
            Self::VerificationExpired => "verification_expired",
            Self::VerificationFailed => "verification_failed",
            Self::UserLocked => "user_locked",
            Self::UserBanned => "user_banned",
            Self::StrategyForUserInvalid => "strategy_for_user_invalid",
            Self::SignedOut => "signed_out",
            Self::ActionNotAllowed => "action_not_allowed",
            Self::TicketInvalid => "ticket_invalid",
            Self::AlreadyAMember => "already_a_member_in_organization",
            Self::MembershipQuotaExceeded => "organization_membership_quota_exceeded",
            Self::LastAdmin => "organization_minimum_permissions_needed",
            Self::NotAuthorized => "not_authorized",
            Self::CardDeclined => "card_declined",
            Self::PaymentMethodRequired => "payment_method_required",
            Self::InvalidPlanChange => "invalid_plan_change",
            Self::CheckoutAlreadyInProgress => "checkout_already_in_progress",
            Self::SamlResponseInvalid => "saml_response_invalid",
            Self::SamlResponseRelaystateMissing => "saml_response_relaystate_missing",
            Self::SamlUserAttributeMissing => "saml_user_attribute_missing",
            Self::SamlEmailAddressDomainMismatch => "saml_email_address_domain_mismatch",
            Self::OauthCallbackInvalid => "oauth_callback_invalid",
            Self::OauthAccessDenied => "oauth_access_denied",
            Self::OauthTokenExchangeError => "oauth_token_exchange_error",
            Self::OauthFetchUserError => "oauth_fetch_user_error",
            Self::OauthProviderNotEnabled => "oauth_provider_not_enabled",
            Self::OauthIdentificationClaimed => "oauth_identification_claimed",
            Self::OauthAccountAlreadyConnected => "oauth_account_already_connected",
            Self::ServiceUnavailable => "service_unavailable",
            Self::InternalServerError => "internal_clerk_error",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::AuthorizationHeaderFormatInvalid | Self::ClerkKeyInvalid => {
                StatusCode::UNAUTHORIZED
            }
            Self::BadRequest
            | Self::MalformedRequestBody
            | Self::SamlResponseInvalid
            | Self::SamlResponseRelaystateMissing
            | Self::OauthCallbackInvalid
            | Self::OauthTokenExchangeError
            | Self::OauthFetchUserError
            | Self::OauthProviderNotEnabled
            | Self::OauthIdentificationClaimed
            | Self::OauthAccountAlreadyConnected => StatusCode::BAD_REQUEST,
            Self::RequestBodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ResourceNotFound => StatusCode::NOT_FOUND,
            Self::Conflict | Self::CheckoutAlreadyInProgress => StatusCode::CONFLICT,
            Self::OriginInvalid
            | Self::UserLocked
            | Self::UserBanned
            | Self::ActionNotAllowed
            | Self::OauthAccessDenied
            | Self::MembershipQuotaExceeded
            | Self::LastAdmin
            | Self::NotAuthorized => StatusCode::FORBIDDEN,
            Self::VerificationFailed => StatusCode::TOO_MANY_REQUESTS,
            Self::SignedOut => StatusCode::UNAUTHORIZED,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::FormParamMissing
            | Self::FormParamFormatInvalid
            | Self::FormParamValueInvalid
            | Self::FormParamUnknown
            | Self::FormParamMaxLengthExceeded
            | Self::FormIdentifierExists
            | Self::FormUsernameInvalidLength
            | Self::FormUsernameInvalidCharacter
            | Self::FormPasswordLengthTooShort
            | Self::FormPasswordLengthTooLong
            | Self::IncorrectPassword
            | Self::PasswordNotSet
            | Self::FormIdentifierNotFound
            | Self::FormPasswordIncorrect
            | Self::FormCodeIncorrect
            | Self::VerificationExpired
            | Self::StrategyForUserInvalid
            | Self::TicketInvalid
            | Self::AlreadyAMember
            | Self::CardDeclined
            | Self::PaymentMethodRequired
            | Self::InvalidPlanChange
            | Self::SamlUserAttributeMissing
            | Self::SamlEmailAddressDomainMismatch => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}
