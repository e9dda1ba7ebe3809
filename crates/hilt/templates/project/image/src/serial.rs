//! The serial port: the UART the board glue mirrors every message and log
//! line to ([`hilt_board::serial`] says what a line looks like).

use core::fmt::{self, Write};

use heapless::Vec;
use hilt_board::serial::Serial;
use hilt_firmware::app::LogLevel;

/// Writes lines to the UART through a small buffer, so that a long payload
/// goes out in chunks rather than one critical section per character, and
/// never in one critical section for the whole line (which would hold off
/// the WiFi interrupts for as long as the UART takes).
pub struct Uart {
    buffer: Vec<u8, 128>,
}

impl Uart {
    pub fn new() -> Self {
        Uart { buffer: Vec::new() }
    }

    fn flush(&mut self) {
        esp_println::Printer::write_bytes(&self.buffer);
        self.buffer.clear();
    }
}

impl Write for Uart {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if self.buffer.is_full() {
                self.flush();
            }
            // Cannot fail: there is room after the flush.
            let _ = self.buffer.push(byte);
        }
        Ok(())
    }
}

impl Serial for Uart {
    fn end_line(&mut self) {
        if self.buffer.is_full() {
            self.flush();
        }
        // Cannot fail: there is room after the flush.
        let _ = self.buffer.push(b'\n');
        self.flush();
    }
}

/// Formats and prints a log line of the board itself (WiFi, DHCP), in the
/// same form as the app's log lines.
pub fn log(level: LogLevel, arguments: fmt::Arguments<'_>) {
    hilt_board::serial::log(&mut Uart::new(), level, arguments);
}
