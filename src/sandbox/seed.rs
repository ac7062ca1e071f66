//! The data a new sandbox starts with: a deactivated legacy Miva store, its Miva Connect
//! replacement, a manual store, orders in both Miva stores and shipments for the shipped
//! legacy order.
//!
//! Several values contain the digits `12345` on purpose (order numbers, an order ID, a
//! custom field, a phone number). The default legacy store ID is 12345, so a proxy that
//! rewrote store IDs by text search instead of by field would corrupt them, and tests can
//! check that it does not.

use serde_json::{json, Value};

use super::model::{build_order, OrderStamp};
use super::shipments::build_shipment;
use super::state::{OrderRecord, ShipmentRecord, State, StatusMapping, Store};
use super::SandboxOptions;

// NOTE: the numeric marketplace IDs of "Miva Merchant" and "Miva Connect" are not
// published. These are placeholders that only need to differ from each other and from 0.
const MIVA_MERCHANT_MARKETPLACE_ID: u64 = 58;
const MIVA_CONNECT_MARKETPLACE_ID: u64 = 418;

const SEED_CREATE_DATE: &str = "2026-11-02T09:14:27.1830000";
const SEED_MODIFY_DATE: &str = "2026-11-02T09:14:29.4070000";

pub(crate) fn seed_state(options: &SandboxOptions) -> State {
    let mut state = State {
        stores: seed_stores(options),
        orders: Vec::new(),
        shipments: Vec::new(),
        subscriptions: Vec::new(),
        next_order_id: 212_345,
        next_order_item_id: 301_001,
        next_shipment_id: 412_001,
        next_batch_id: 100_301,
        next_webhook_id: 15_001,
    };

    for (store_id, body) in seed_orders(options) {
        insert_order(&mut state, store_id, &body, SEED_MODIFY_DATE);
    }

    // The shipped legacy order gets the shipment its label produced.
    if let Some(record) = state
        .orders
        .iter()
        .find(|record| record.str_field("orderStatus") == "shipped")
        .cloned()
    {
        let shipment_id = state.take_shipment_id();
        let batch_id = state.take_batch_id();
        let label = json!({
            "carrierCode": "stamps_com",
            "serviceCode": "usps_priority_mail",
            "packageCode": "package",
            "shipDate": "2026-11-03"
        });
        let shipment = build_shipment(
            &record.order,
            &label,
            shipment_id,
            batch_id,
            "9400111899561704612345",
            "2026-11-03T10:02:51.6200000",
        );
        state.shipments.push(ShipmentRecord {
            shipment,
            store_id: record.store_id(),
            batch_id,
        });
    }
    state
}

/// Stores a seed order in `store_id` with a new order ID, and returns that ID.
pub(crate) fn insert_order(
    state: &mut State,
    store_id: u64,
    body: &Value,
    modify_date: &str,
) -> u64 {
    let order_id = state.take_order_id();
    let order_key = body["orderKey"].as_str().unwrap_or_default().to_owned();
    let stamp = OrderStamp {
        order_id,
        order_key: &order_key,
        store_id,
        create_date: SEED_CREATE_DATE,
        modify_date,
    };
    let input = body.as_object().cloned().unwrap_or_default();
    let order = build_order(&input, &stamp, || state.take_order_item_id());
    state.orders.push(OrderRecord {
        order,
        import_batch: None,
    });
    order_id
}

fn status_mappings(pairs: &[(&str, &str)]) -> Option<Vec<StatusMapping>> {
    Some(
        pairs
            .iter()
            .map(|(order_status, status_key)| StatusMapping {
                order_status: (*order_status).to_owned(),
                status_key: (*status_key).to_owned(),
            })
            .collect(),
    )
}

fn seed_stores(options: &SandboxOptions) -> Vec<Store> {
    let miva_mappings = [
        ("awaiting_payment", "Pending"),
        ("awaiting_shipment", "Processing"),
        ("shipped", "Shipped"),
        ("cancelled", "Cancelled"),
        ("on_hold", "Backordered"),
    ];
    vec![
        Store {
            store_id: options.legacy_store_id,
            store_name: "Example Outfitters (Miva)".into(),
            marketplace_id: MIVA_MERCHANT_MARKETPLACE_ID,
            marketplace_name: "Miva Merchant".into(),
            account_name: None,
            email: None,
            integration_url: Some("https://shop.example.com/mm5/merchant.mvc".into()),
            active: false,
            company_name: "Example Outfitters".into(),
            phone: String::new(),
            public_email: "orders@example.com".into(),
            website: "https://shop.example.com".into(),
            refresh_date: "2026-10-30T23:10:42.117".into(),
            last_refresh_attempt: "2026-10-30T23:10:42.117".into(),
            create_date: "2019-04-15T08:22:31.507".into(),
            modify_date: "2026-10-31T07:45:02.263".into(),
            auto_refresh: false,
            status_mappings: status_mappings(&miva_mappings),
            refresh_in_progress: false,
        },
        Store {
            store_id: options.connect_store_id,
            store_name: "Example Outfitters (Miva Connect)".into(),
            marketplace_id: MIVA_CONNECT_MARKETPLACE_ID,
            marketplace_name: "Miva Connect".into(),
            account_name: None,
            email: None,
            integration_url: Some("https://shop.example.com/mm5/json.mvc".into()),
            active: true,
            company_name: "Example Outfitters".into(),
            phone: String::new(),
            public_email: "orders@example.com".into(),
            website: "https://shop.example.com".into(),
            refresh_date: "2026-11-02T09:10:05.440".into(),
            last_refresh_attempt: "2026-11-02T09:10:05.440".into(),
            create_date: "2026-10-31T07:40:18.903".into(),
            modify_date: "2026-10-31T07:40:18.903".into(),
            auto_refresh: true,
            status_mappings: status_mappings(&miva_mappings),
            refresh_in_progress: false,
        },
        Store {
            store_id: options.manual_store_id,
            store_name: "ShipStation Manual Store".into(),
            marketplace_id: super::state::MANUAL_MARKETPLACE_ID,
            marketplace_name: "ShipStation".into(),
            account_name: None,
            email: None,
            integration_url: None,
            active: true,
            company_name: String::new(),
            phone: String::new(),
            public_email: "orders@example.com".into(),
            website: String::new(),
            refresh_date: "2019-04-15T08:00:12.370".into(),
            last_refresh_attempt: "2019-04-15T08:00:12.370".into(),
            create_date: "2019-04-15T08:00:12.370".into(),
            modify_date: "2019-04-15T08:00:12.370".into(),
            auto_refresh: false,
            status_mappings: status_mappings(&[]),
            refresh_in_progress: false,
        },
    ]
}

fn address(
    name: &str,
    street1: &str,
    city: &str,
    state: &str,
    postal: &str,
    country: &str,
    phone: &str,
) -> Value {
    json!({
        "name": name,
        "company": "",
        "street1": street1,
        "street2": "",
        "street3": null,
        "city": city,
        "state": state,
        "postalCode": postal,
        "country": country,
        "phone": phone,
        "residential": true,
        "addressVerified": "Address validated successfully"
    })
}

fn item(
    line_key: &str,
    sku: &str,
    name: &str,
    quantity: u32,
    unit_price: f64,
    ounces: u32,
    product_id: u64,
) -> Value {
    json!({
        "lineItemKey": line_key,
        "sku": sku,
        "name": name,
        "imageUrl": "https://shop.example.com/images/product.jpg",
        "weight": { "value": ounces, "units": "ounces", "WeightUnits": 1 },
        "quantity": quantity,
        "unitPrice": unit_price,
        "taxAmount": 0,
        "shippingAmount": 0,
        "warehouseLocation": "Aisle 3, Bin 12",
        "options": [{ "name": "Colour", "value": "Green" }],
        "productId": product_id,
        "fulfillmentSku": sku,
        "adjustment": false,
        "upc": "012345678905"
    })
}

/// Returns `(store ID, order body)` pairs. The first order is international so that list
/// responses start with a fully populated `internationalOptions`.
fn seed_orders(options: &SandboxOptions) -> Vec<(u64, Value)> {
    let legacy = options.legacy_store_id;
    let connect = options.connect_store_id;
    let common = |number: &str, key: &str, status: &str, ship_to: Value, custom1: &str| {
        json!({
            "orderNumber": number,
            "orderKey": key,
            "orderDate": "2026-11-01T16:42:10.0000000",
            "paymentDate": "2026-11-01T16:42:10.0000000",
            "shipByDate": "2026-11-05T00:00:00.0000000",
            "orderStatus": status,
            "customerId": 88_412_345,
            "customerUsername": "jrivera@example.net",
            "customerEmail": "jrivera@example.net",
            "billTo": { "name": ship_to["name"].clone() },
            "shipTo": ship_to,
            "items": [
                item("mv-line-1", "TENT-2P", "Two-person tent", 1, 189.0, 96, 7_712_345),
                item("mv-line-2", "STAKE-AL", "Aluminium stakes (pack of 8)", 2, 12.5, 6, 7_700_002)
            ],
            "orderTotal": 224.0,
            "amountPaid": 224.0,
            "taxAmount": 0,
            "shippingAmount": 10.0,
            "customerNotes": "Please leave at the side door.",
            "internalNotes": "Imported from Miva",
            "gift": false,
            "giftMessage": null,
            "paymentMethod": "Credit Card",
            "requestedShippingService": "Priority Mail",
            "carrierCode": "stamps_com",
            "serviceCode": "usps_priority_mail",
            "packageCode": "package",
            "confirmation": "delivery",
            "weight": { "value": 108, "units": "ounces", "WeightUnits": 1 },
            "dimensions": { "units": "inches", "length": 20, "width": 8, "height": 8 },
            "insuranceOptions": { "provider": "carrier", "insureShipment": false, "insuredValue": 0 },
            "advancedOptions": {
                "warehouseId": 51_234,
                "customField1": custom1,
                "customField2": "Miva basket 88",
                "customField3": "",
                "source": "Miva"
            },
            "externallyFulfilled": false
        })
    };

    let mut international = common(
        "1001",
        "mv-1001",
        "awaiting_shipment",
        address(
            "Alex Morgan",
            "221 Harbour Rd",
            "Vancouver",
            "BC",
            "V6B 1A1",
            "CA",
            "604-555-0142",
        ),
        "Gift wrap",
    );
    international["gift"] = json!(true);
    international["giftMessage"] = json!("Happy birthday!");
    international["shipDate"] = json!("2026-11-04");
    international["internationalOptions"] = json!({
        "contents": "merchandise",
        "customsItems": [{
            "customsItemId": 11_558_268,
            "description": "Two-person tent",
            "quantity": 1,
            "value": 189.0,
            "harmonizedTariffCode": "6306.22",
            "countryOfOrigin": "US"
        }],
        "nonDelivery": "return_to_sender"
    });

    let shipped = {
        let mut order = common(
            "12345-A",
            "mv-12345-A",
            "shipped",
            address(
                "Jordan Rivera",
                "12345 Elm St",
                "Portland",
                "OR",
                "97201",
                "US",
                "4123456789",
            ),
            "Imported from Miva store 12345",
        );
        order["shipDate"] = json!("2026-11-03");
        order
    };

    let unpaid = {
        let mut order = common(
            "1003",
            "mv-1003",
            "awaiting_payment",
            address(
                "Sam Lee",
                "9 Cedar Ave",
                "Austin",
                "TX",
                "78701",
                "US",
                "512-555-0199",
            ),
            "",
        );
        order["paymentDate"] = Value::Null;
        order["amountPaid"] = json!(0);
        order
    };

    let connect_first = common(
        "MC-12345",
        "mc-2001",
        "awaiting_shipment",
        address(
            "Priya Shah",
            "55 Lake Shore Dr",
            "Chicago",
            "IL",
            "60611",
            "US",
            "312-555-0123",
        ),
        "Connect order 12345",
    );

    let on_hold = {
        let mut order = common(
            "MC-1002",
            "mc-2002",
            "on_hold",
            address(
                "Chris Young",
                "800 Pine St",
                "Seattle",
                "WA",
                "98101",
                "US",
                "206-555-0175",
            ),
            "",
        );
        order["holdUntilDate"] = json!("2026-11-20");
        order
    };

    vec![
        (legacy, international),
        (legacy, shipped),
        (legacy, unpaid),
        (connect, connect_first),
        (connect, on_hold),
    ]
}
