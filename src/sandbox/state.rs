//! The sandbox's data: stores, orders, shipments and webhook subscriptions, plus the
//! counters that hand out new IDs. Orders and shipments are kept as JSON objects in the
//! V1 response shape, because clients send and receive them whole.

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A V1 store record. `statusMappings` appears only on `GET` and `PUT /stores/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Store {
    pub store_id: u64,
    pub store_name: String,
    pub marketplace_id: u64,
    pub marketplace_name: String,
    pub account_name: Option<String>,
    pub email: Option<String>,
    pub integration_url: Option<String>,
    pub active: bool,
    pub company_name: String,
    pub phone: String,
    pub public_email: String,
    pub website: String,
    pub refresh_date: String,
    pub last_refresh_attempt: String,
    pub create_date: String,
    pub modify_date: String,
    pub auto_refresh: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_mappings: Option<Vec<StatusMapping>>,
    /// Set by `refreshstore` and cleared by the next `getrefreshstatus`, so a client sees
    /// one "in progress" response before the refresh reads as finished.
    #[serde(skip)]
    pub refresh_in_progress: bool,
}

impl Store {
    /// Returns the record as `GET /stores` lists it, without status mappings.
    pub fn list_view(&self) -> Store {
        Store {
            status_mappings: None,
            ..self.clone()
        }
    }

    /// Returns the record as `GET /stores/{id}` shows it, always with status mappings.
    pub fn detail_view(&self) -> Store {
        Store {
            status_mappings: Some(self.status_mappings.clone().unwrap_or_default()),
            ..self.clone()
        }
    }

    pub fn is_manual(&self) -> bool {
        self.marketplace_id == MANUAL_MARKETPLACE_ID
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusMapping {
    pub order_status: String,
    pub status_key: String,
}

/// The marketplace ID ShipStation gives manual ("ShipStation") stores.
pub(crate) const MANUAL_MARKETPLACE_ID: u64 = 0;

/// An order in V1 response shape, with the import batch it arrived in so that an
/// ORDER_NOTIFY `resource_url` (`importBatch=`) selects exactly those orders.
#[derive(Clone, Debug)]
pub(crate) struct OrderRecord {
    pub order: Map<String, Value>,
    pub import_batch: Option<String>,
}

impl OrderRecord {
    pub fn order_id(&self) -> u64 {
        self.order
            .get("orderId")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    pub fn store_id(&self) -> Option<u64> {
        self.order
            .get("advancedOptions")
            .and_then(|options| options.get("storeId"))
            .and_then(Value::as_u64)
    }

    pub fn str_field(&self, key: &str) -> &str {
        self.order.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

/// A shipment in V1 response shape (without label data), with the store of its order and
/// the batch it was created in, which the SHIP_NOTIFY `resource_url` (`batchId=`) selects.
#[derive(Clone, Debug)]
pub(crate) struct ShipmentRecord {
    pub shipment: Map<String, Value>,
    pub store_id: Option<u64>,
    pub batch_id: u64,
}

/// A webhook subscription made through `POST /webhooks/subscribe`.
#[derive(Clone, Debug)]
pub(crate) struct Subscription {
    pub id: u64,
    pub target_url: String,
    pub event: String,
    pub store_id: Option<u64>,
    pub friendly_name: Option<String>,
}

/// Everything the sandbox's API can read and change.
#[derive(Debug)]
pub(crate) struct State {
    pub stores: Vec<Store>,
    pub orders: Vec<OrderRecord>,
    pub shipments: Vec<ShipmentRecord>,
    pub subscriptions: Vec<Subscription>,
    pub next_order_id: u64,
    pub next_order_item_id: u64,
    pub next_shipment_id: u64,
    pub next_batch_id: u64,
    pub next_webhook_id: u64,
}

/// The seller ID shown in `GET /webhooks`; the sandbox has a single account.
pub(crate) const SELLER_ID: u64 = 100_000;

impl State {
    pub fn store(&self, store_id: u64) -> Option<&Store> {
        self.stores.iter().find(|store| store.store_id == store_id)
    }

    pub fn store_mut(&mut self, store_id: u64) -> Option<&mut Store> {
        self.stores
            .iter_mut()
            .find(|store| store.store_id == store_id)
    }

    /// Returns the store ShipStation falls back to for orders and labels: the first active
    /// manual store.
    pub fn first_active_manual_store(&self) -> Option<&Store> {
        self.stores
            .iter()
            .find(|store| store.is_manual() && store.active)
    }

    pub fn order(&self, order_id: u64) -> Option<&OrderRecord> {
        self.orders
            .iter()
            .find(|record| record.order_id() == order_id)
    }

    pub fn order_mut(&mut self, order_id: u64) -> Option<&mut OrderRecord> {
        self.orders
            .iter_mut()
            .find(|record| record.order_id() == order_id)
    }

    pub fn take_order_id(&mut self) -> u64 {
        let id = self.next_order_id;
        self.next_order_id += 1;
        id
    }

    pub fn take_order_item_id(&mut self) -> u64 {
        let id = self.next_order_item_id;
        self.next_order_item_id += 1;
        id
    }

    pub fn take_shipment_id(&mut self) -> u64 {
        let id = self.next_shipment_id;
        self.next_shipment_id += 1;
        id
    }

    pub fn take_batch_id(&mut self) -> u64 {
        let id = self.next_batch_id;
        self.next_batch_id += 1;
        id
    }

    pub fn take_webhook_id(&mut self) -> u64 {
        let id = self.next_webhook_id;
        self.next_webhook_id += 1;
        id
    }
}

/// Returns a random version-4 GUID in the lowercase hyphenated form .NET prints.
pub(crate) fn new_guid() -> String {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Returns a fake USPS-style tracking number: `9400` followed by 18 random digits.
pub(crate) fn new_tracking_number() -> String {
    let mut rng = rand::rng();
    let digits: String = (0..18)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect();
    format!("9400{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_has_dotnet_shape() {
        let guid = new_guid();
        let groups: Vec<usize> = guid.split('-').map(str::len).collect();
        assert_eq!(groups, vec![8, 4, 4, 4, 12]);
        assert_eq!(&guid[14..15], "4");
    }

    #[test]
    fn tracking_number_is_numeric() {
        let number = new_tracking_number();
        assert_eq!(number.len(), 22);
        assert!(number.bytes().all(|byte| byte.is_ascii_digit()));
    }
}
