//! Billing: plans, subscriptions, free trials and statements live in
//! Steward's own database, as Clerk keeps them; Stripe only stores cards
//! and moves money. For now this holds only the payment plumbing the area
//! will sit on: [`stripe::PaymentGateway`]. The area's routes, tables and
//! registry entry come with it (see `docs/ARCHITECTURE.md`, "Adding an
//! area").

pub mod stripe;
