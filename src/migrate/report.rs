//! The text form of the migration plan: sections with aligned tables.

use std::fmt::Write;

use serde_json::Value;

use super::plan::Plan;

/// Lays out rows under headers, each column as wide as its widest cell, two spaces apart.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|header| header.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header_row: Vec<String> = headers.iter().map(|header| (*header).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(text, "  {}", cells.join("  ").trim_end());
    }
    text
}

fn yes_no(flag: bool) -> String {
    if flag { "yes" } else { "no" }.to_owned()
}

fn or_dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".to_owned())
}

/// Prints a field value compactly: strings without quotes, `null` as `-`.
pub(crate) fn show(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Renders the whole plan as text.
pub fn render(plan: &Plan) -> String {
    let mut out = String::from("storebridge migration plan\n");
    section_stores(plan, &mut out);
    section_health(plan, &mut out);
    section_hooks(plan, &mut out);
    section_orders(plan, &mut out);
    section_checklist(plan, &mut out);
    out
}

fn heading(out: &mut String, title: &str) {
    let _ = write!(out, "\n{title}\n");
}

fn none(out: &mut String) {
    out.push_str("  none\n");
}

fn section_stores(plan: &Plan, out: &mut String) {
    heading(out, "Stores (including inactive ones)");
    let rows: Vec<Vec<String>> = plan
        .stores
        .iter()
        .map(|store| {
            vec![
                store.store_id.to_string(),
                store.store_name.clone(),
                store.marketplace_name.clone(),
                yes_no(store.active),
                store.role.to_owned(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["STORE", "NAME", "MARKETPLACE", "ACTIVE", "ROLE"],
        &rows,
    ));

    heading(out, "Store pairs");
    if plan.pairs.is_empty() {
        out.push_str(
            "  none configured, and no inactive Miva store with an active Miva Connect store to propose\n",
        );
    }
    for pair in &plan.pairs {
        let _ = writeln!(
            out,
            "  legacy {} -> connect {} ({})",
            pair.legacy, pair.connect, pair.source
        );
    }
    if let Some(snippet) = &plan.proposed_config {
        out.push_str(
            "  No [[store]] pair is configured. Add the proposed pair to the config file:\n\n",
        );
        for line in snippet.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
}

fn section_health(plan: &Plan, out: &mut String) {
    heading(out, "Miva Connect store health");
    if plan.connect_health.is_empty() {
        none(out);
    }
    let rows: Vec<Vec<String>> = plan
        .connect_health
        .iter()
        .map(|health| {
            vec![
                health.store_id.to_string(),
                yes_no(health.active),
                if health.auto_refresh { "on" } else { "off" }.to_owned(),
                or_dash(&health.refresh_status),
                or_dash(&health.last_refresh_attempt),
                or_dash(&health.refresh_date),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(
            &[
                "STORE",
                "ACTIVE",
                "AUTO-REFRESH",
                "LAST REFRESH",
                "ATTEMPTED",
                "REFRESH DATE",
            ],
            &rows,
        ));
    }
    for health in &plan.connect_health {
        for problem in &health.problems {
            let _ = writeln!(out, "  ! store {}: {problem}", health.store_id);
        }
    }
}

fn section_hooks(plan: &Plan, out: &mut String) {
    heading(
        out,
        "Webhooks still bound to a legacy store (storebridge migrate webhooks)",
    );
    if plan.legacy_webhooks.is_empty() {
        return none(out);
    }
    let rows: Vec<Vec<String>> = plan
        .legacy_webhooks
        .iter()
        .map(|hook| {
            vec![
                hook.webhook_id.to_string(),
                hook.event.clone(),
                hook.store_id.to_string(),
                hook.connect_store_id.to_string(),
                hook.url.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["WEBHOOK", "EVENT", "STORE", "MOVE TO", "URL"],
        &rows,
    ));
}

fn section_orders(plan: &Plan, out: &mut String) {
    heading(out, "Open orders");
    let rows: Vec<Vec<String>> = plan
        .open_orders
        .iter()
        .map(|count| {
            vec![
                count.store_id.to_string(),
                count.role.to_owned(),
                count.awaiting_payment.to_string(),
                count.awaiting_shipment.to_string(),
                count.on_hold.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "STORE",
            "ROLE",
            "AWAITING_PAYMENT",
            "AWAITING_SHIPMENT",
            "ON_HOLD",
        ],
        &rows,
    ));

    heading(
        out,
        "Open in both stores: re-apply the legacy edits in ShipStation",
    );
    if plan.open_in_both.is_empty() {
        none(out);
    }
    for order in &plan.open_in_both {
        let summary = match order.differences.len() {
            0 => "no edit to re-apply".to_owned(),
            count => format!("{count} field(s) differ"),
        };
        let _ = writeln!(
            out,
            "  order {} (legacy {}, connect {}): {summary}",
            order.order_number, order.legacy_order_id, order.connect_order_id
        );
        let rows: Vec<Vec<String>> = order
            .differences
            .iter()
            .map(|difference| {
                vec![
                    difference.field.to_owned(),
                    show(&difference.legacy),
                    show(&difference.connect),
                ]
            })
            .collect();
        if !rows.is_empty() {
            for line in table(&["FIELD", "LEGACY", "CONNECT"], &rows).lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }

    heading(
        out,
        "Double-ship risk: shipped from the legacy store, open in Miva Connect",
    );
    if plan.double_ship_risks.is_empty() {
        none(out);
    } else {
        let rows: Vec<Vec<String>> = plan
            .double_ship_risks
            .iter()
            .map(|risk| {
                vec![
                    risk.order_number.clone(),
                    risk.legacy_order_id.to_string(),
                    risk.connect_order_id.to_string(),
                    risk.connect_status.clone(),
                    or_dash(&risk.legacy_ship_date),
                    or_dash(&risk.tracking_number),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "ORDER",
                "LEGACY ID",
                "CONNECT ID",
                "CONNECT STATUS",
                "SHIPPED",
                "TRACKING",
            ],
            &rows,
        ));
    }

    heading(out, "Open orders in one store only");
    order_refs(&plan.only_in_one_store, out);

    heading(
        out,
        "Unpaid orders (awaiting_payment): Miva Connect imports them, the legacy integration did not; \
         automation that lists orders without a status filter now sees them",
    );
    order_refs(&plan.awaiting_payment, out);
}

fn order_refs(orders: &[super::plan::OrderRef], out: &mut String) {
    if orders.is_empty() {
        return none(out);
    }
    let rows: Vec<Vec<String>> = orders
        .iter()
        .map(|order| {
            vec![
                order.order_number.clone(),
                order.store_id.to_string(),
                order.order_id.to_string(),
                order.status.clone(),
            ]
        })
        .collect();
    out.push_str(&table(&["ORDER", "STORE", "ORDER ID", "STATUS"], &rows));
}

fn section_checklist(plan: &Plan, out: &mut String) {
    heading(out, "Settings to copy by hand to the Miva Connect store");
    for setting in &plan.manual_settings {
        let _ = writeln!(out, "  - {setting}");
    }
    heading(out, "Advice");
    for line in &plan.advice {
        let _ = writeln!(out, "  - {line}");
    }
    let risks = plan.double_ship_risks.len();
    let _ = write!(
        out,
        "\nResult: {risks} double-ship risk(s); exit status {}\n",
        plan.exit_status
    );
}
