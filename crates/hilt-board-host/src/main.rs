//! hilt-board-host: the board glue of the ESP32-C3 image (hilt-board) run on
//! the host, against a real broker, over one of two networks: the kernel's
//! TCP, or embassy-net (the image's IP stack, with hilt-board's adapter to
//! it) on a TAP device.
//!
//! It runs one of the firmware core's reference apps as the image does, on
//! hilt-sim's simulated parts in real time, and prints the board's serial
//! log to stdout, line for line what the chip prints on its UART. hilt's
//! tests start it as an `external: true` device of a scenario, so the code a
//! chip runs between its IP stack and the app is code hilt has run.
//!
//! Settings come from the environment, as the image's build reads them
//! (firmware/build.rs), with the same parsers:
//!
//! - `HILT_APP`: the app, one of the image's features (`thermometer`,
//!   `remote-led`, `sensor-data`, `light-status`, `node-manager`);
//! - `HILT_BROKER`: the broker, `host:port` (a DNS name or an IPv4 address);
//! - `HILT_CLIENT_ID`: the MQTT client id, which also names the topics;
//! - `HILT_<KEY>`: the app's `config:` keys (`HILT_INTERVAL=1s`);
//! - `HILT_FLASH`: a file that keeps node-manager's 4 MiB flash chip (its
//!   settings, its firmware updates and the OTA data) between runs: read at
//!   start (created fresh from the factory if missing), written when the
//!   app resets the board, which then stops with exit code 3 for whoever
//!   runs it to start it again, as a chip restarts;
//! - `HILT_TLS_CA`: the file (PEM or DER) of the certificate authority the
//!   board trusts when the app's `HILT_TLS` is on (required then);
//! - `HILT_NETWORK`: `kernel` (the default) or `tap`, and for `tap`:
//!   `HILT_TAP` (the device, `tap0`), `HILT_TAP_ADDRESS` (the board's
//!   address, `192.168.69.2/24`), `HILT_TAP_GATEWAY` (`192.168.69.1`, or
//!   `none`) and `HILT_TAP_DNS` (DNS servers, comma-separated; none).

mod board;
mod network;
mod tap;
mod tls;

use std::fmt;
use std::io::Write as _;
use std::process::ExitCode;

use hilt_board::link::Broker;
use hilt_board::serial::Serial;
use hilt_firmware::app::LogLevel;

use crate::board::{BoardSettings, NetworkSettings};
use crate::network::HostNetwork;

fn main() -> ExitCode {
    let settings = match BoardSettings::from_env(|name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(problems) => {
            eprintln!("hilt-board-host: cannot start the board:");
            for problem in problems {
                eprintln!("  {problem}");
            }
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("hilt-board-host: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut serial = Stdout::default();
    hilt_board::serial::log(
        &mut serial,
        LogLevel::Info,
        format_args!(
            "{} {}: app {} as {}, broker {}:{}, {}",
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            settings.app,
            settings.client_id,
            settings.broker_host,
            settings.broker_port,
            NetworkName(&settings.network),
        ),
    );
    let mut node = board::build(&settings, hilt_board::clock::now());
    let broker = Broker {
        host: &settings.broker_host,
        port: settings.broker_port,
    };
    match &settings.network {
        NetworkSettings::Kernel => runtime.block_on(tls::run_link(
            &HostNetwork,
            &mut serial,
            &mut node,
            broker,
            settings.tls_authority.as_deref(),
        )),
        NetworkSettings::Tap(tap) => {
            let authority = settings.tls_authority.as_deref();
            match tap::run(tap, &runtime, &mut serial, &mut node, broker, authority) {
                Err(error) => {
                    eprintln!(
                        "hilt-board-host: cannot open the TAP device {:?}: {error}",
                        tap.interface
                    );
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The network, as the first log line names it.
struct NetworkName<'a>(&'a NetworkSettings);

impl fmt::Display for NetworkName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            NetworkSettings::Kernel => write!(f, "over the kernel's TCP"),
            NetworkSettings::Tap(tap) => write!(
                f,
                "over embassy-net on {} as {}/{}",
                tap.interface, tap.address, tap.prefix_length
            ),
        }
    }
}

/// The serial port of the host build: stdout, one line at a time, flushed
/// at the end of each so that whoever reads the pipe sees it at once.
#[derive(Debug, Default)]
struct Stdout {
    line: String,
}

impl fmt::Write for Stdout {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.line.push_str(text);
        Ok(())
    }
}

impl Serial for Stdout {
    fn end_line(&mut self) {
        self.line.push('\n');
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (the reader went away) is nothing the board can
        // act on; the chip's UART cannot fail either.
        let _ = stdout.write_all(self.line.as_bytes());
        let _ = stdout.flush();
        self.line.clear();
    }
}
