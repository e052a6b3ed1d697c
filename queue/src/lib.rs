//! The shipper's disk-assisted action queue (not built yet).
