//! Side effects of call events: webhooks and CRM popups. The hook only queues them in the
//! outbox, in its own transaction; the background worker performs them.
//!
//! [`outbox`] is the queue and every state change of a delivery, [`lease`] the worker lanes,
//! [`spawn`] starts a worker, [`worker`] is its loop, [`webhook`] builds and signs payloads
//! (and, in `webhook::send`, posts them), [`popup`] opens the CRM page, [`retry`] is the retry
//! schedule and [`drain`] brings the fallback log's events back into the database.

pub mod central;
pub mod drain;
pub mod lease;
pub mod outbox;
pub mod popup;
pub mod retry;
pub mod spawn;
pub mod webhook;
pub mod worker;
