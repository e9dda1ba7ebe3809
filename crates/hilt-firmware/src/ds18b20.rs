//! DS18B20 driver.
