//! The ShipStation V1 sandbox (being written).
