//! Test support: brokers that tests start themselves on 127.0.0.1 (being written).
