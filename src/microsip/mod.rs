//! Reading and editing MicroSIP's own files: microsip.ini, its call history and Contacts.xml;
//! and sending commands to the running MicroSIP (`control`).

pub mod contacts;
pub mod control;
pub mod history;
pub mod hooks;
pub mod ini;
pub mod locate;
