//! The state every handler of the server shares, and the random secrets
//! (session IDs, the results token) it hands out.

use std::sync::{Arc, Mutex};

use rand::RngCore;

use crate::cases::Case;
use crate::store::Store;

/// What every handler shares: the database (one lock: checking and
/// recording an answer is atomic), the cases and the results token.
pub(crate) struct App {
    pub(crate) store: Mutex<Store>,
    pub(crate) cases: Vec<Case>,
    pub(crate) token: String,
}

pub(crate) type Shared = Arc<App>;

/// 128 random bits from the operating system, as hex.
pub(crate) fn secret() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
