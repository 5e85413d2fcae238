//! Reading and editing MicroSIP's own files: microsip.ini, its call history and Contacts.xml.

pub mod contacts;
pub mod history;
pub mod hooks;
pub mod ini;
pub mod locate;
