//! The ESP32-C3 firmware image of hilt.
//!
//! It runs one of the firmware core's reference apps, unchanged, on a real
//! ESP32-C3-DevKitM-1 (or Wokwi's simulation of one): the app is chosen by a
//! Cargo feature, its settings by `HILT_*` environment variables at build
//! time (build.rs), its parts by `hilt_firmware::pins` (board.rs).
//!
//! What runs:
//!
//! - the WiFi station (esp-radio), which joins the network and rejoins it
//!   whenever it drops ([`wifi_task`]);
//! - the IP stack (embassy-net, DHCP and DNS) ([`net_task`]);
//! - the main task, which waits for the network once at boot (as the
//!   tutorials' firmware does before its main loop), builds the app and
//!   drives it over a TCP link to the broker with the board glue of
//!   hilt-board, the code hilt's tests run over the host's TCP (link.rs
//!   gives it embassy-net), mirroring every message and log line to the
//!   serial port (serial.rs); over TLS 1.3 when built with `HILT_TLS=true`
//!   (tls.rs).

#![no_std]
#![no_main]

mod board;
// The plain link, or the TLS one when built with HILT_TLS=true.
#[cfg(not(hilt_tls))]
mod link;
#[cfg(hilt_tls)]
#[path = "tls_link.rs"]
mod link;
mod platform;
mod serial;
mod settings;
#[cfg(feature = "node-manager")]
mod storage;
#[cfg(hilt_tls)]
mod tls;

use embassy_executor::Spawner;
use embassy_net::{Runner, StackResources};
use embassy_time::{Duration, Timer, with_timeout};
use esp_alloc as _;
use esp_hal::clock::CpuClock;
use esp_hal::rng::Rng;
use esp_hal::timer::timg::TimerGroup;
use esp_radio::wifi::sta::StationConfig;
use esp_radio::wifi::{
    AuthenticationMethodConfig, Config, ControllerConfig, Interface, WifiController,
};
use hilt_firmware::app::LogLevel;
use static_cell::StaticCell;

esp_bootloader_esp_idf::esp_app_desc!();

/// How long the main task waits for WiFi and DHCP at boot before it starts
/// the app anyway (the session then keeps trying, with its backoff).
const NETWORK_BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between failed attempts to join the WiFi network.
const WIFI_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Sockets of the IP stack: DHCP, DNS and the broker link, plus one spare.
const SOCKETS: usize = 4;

#[esp_rtos::main]
async fn main(spawner: Spawner) -> ! {
    let peripherals = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));
    // The WiFi driver allocates; the app and the glue do not. The memory the
    // ROM bootloader used is free once the image runs, so the heap lives
    // there first.
    esp_alloc::heap_allocator!(#[esp_hal::ram(reclaimed)] size: 64 * 1024);
    esp_alloc::heap_allocator!(size: 36 * 1024);

    let timg0 = TimerGroup::new(peripherals.TIMG0);
    esp_rtos::start(timg0.timer0, peripherals.FROM_CPU_INTR0);

    serial::log(
        LogLevel::Info,
        format_args!(
            "{} {}: app {} as {}, broker {}:{}, WiFi {:?}",
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            settings::APP,
            settings::CLIENT_ID,
            settings::BROKER_HOST,
            settings::BROKER_PORT,
            settings::WIFI_SSID
        ),
    );

    let chip = board::Chip {
        gpios: board::gpios!(peripherals),
        i2c: peripherals.I2C0,
        rtc_timer: peripherals.RTC_TIMER,
        flash: peripherals.FLASH,
    };

    let controller = WifiController::new(
        peripherals.WIFI,
        ControllerConfig::default().with_initial_config(Config::Station(station_config())),
    )
    .expect("the WiFi driver starts");
    let interface = Interface::station();

    // The radio is on now, so the hardware RNG mixes in its noise and is
    // a true random source (esp-hal's `Trng`), as TLS needs.
    #[cfg(hilt_tls)]
    let tls_rng = esp_hal::rng::Trng::try_new()
        .expect("the WiFi driver makes the hardware RNG a true random source");
    let rng = Rng::new();
    let seed = (u64::from(rng.random()) << 32) | u64::from(rng.random());
    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(
        interface,
        embassy_net::Config::dhcpv4(Default::default()),
        RESOURCES.init(StackResources::new()),
        seed,
    );
    spawner.spawn(wifi_task(controller).expect("the WiFi task is spawned once"));
    spawner.spawn(net_task(runner).expect("the network task is spawned once"));

    match with_timeout(NETWORK_BOOT_TIMEOUT, stack.wait_config_up()).await {
        Ok(()) => {
            if let Some(config) = stack.config_v4() {
                serial::log(
                    LogLevel::Info,
                    format_args!("net: address {}", config.address),
                );
            }
        }
        Err(_) => serial::log(
            LogLevel::Warn,
            format_args!(
                "net: no address after {}s; starting the app offline",
                NETWORK_BOOT_TIMEOUT.as_secs()
            ),
        ),
    }

    let mut node = board::build(chip, hilt_board::clock::now());
    #[cfg(not(hilt_tls))]
    link::run(stack, &mut node).await;
    #[cfg(hilt_tls)]
    link::run(stack, &mut node, tls_rng).await
}

/// The station's settings from build.rs: an open network when the password
/// is empty, WPA2 (or better) otherwise, and the channel when it is known.
fn station_config() -> StationConfig {
    let authentication = if settings::WIFI_PASSWORD.is_empty() {
        AuthenticationMethodConfig::Open
    } else {
        AuthenticationMethodConfig::Wpa2Personal(
            settings::WIFI_PASSWORD
                .try_into()
                .expect("build.rs checked the password's length"),
        )
    };
    let config = StationConfig::default()
        .with_ssid(
            settings::WIFI_SSID
                .try_into()
                .expect("build.rs checked the SSID's length"),
        )
        .with_authentication(authentication);
    match settings::WIFI_CHANNEL {
        Some(channel) => config.with_channel(channel),
        None => config,
    }
}

/// Joins the WiFi network, and joins it again whenever the link drops.
///
/// The broker link notices the drop by itself (the IP stack reports the
/// link down) and reconnects through the session's backoff once the network
/// is back.
#[embassy_executor::task]
async fn wifi_task(mut controller: WifiController<'static>) {
    loop {
        match controller.connect_async().await {
            Ok(info) => {
                serial::log(
                    LogLevel::Info,
                    format_args!(
                        "wifi: joined {:?} on channel {}",
                        info.ssid.as_str(),
                        info.channel
                    ),
                );
                let reason = controller.wait_for_disconnect_async().await;
                serial::log(
                    LogLevel::Warn,
                    format_args!("wifi: link lost ({reason:?}); rejoining"),
                );
            }
            Err(error) => {
                serial::log(
                    LogLevel::Warn,
                    format_args!(
                        "wifi: cannot join {:?} ({error:?}); retrying in {}s",
                        settings::WIFI_SSID,
                        WIFI_RETRY_DELAY.as_secs()
                    ),
                );
                Timer::after(WIFI_RETRY_DELAY).await;
            }
        }
    }
}

/// Runs the IP stack: moves frames between the WiFi driver and the sockets,
/// and keeps the DHCP lease.
#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Interface>) {
    runner.run().await
}
