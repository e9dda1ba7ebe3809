//! The Wokwi project at the repository root (`diagram.json`, `wokwi.toml`)
//! checked against the firmware core's pin map and the firmware image crate.
//!
//! `hilt_firmware::pins` is the one place GPIO numbers live: the ESP32-C3
//! image takes its pins from it, the simulation names raw pins from it, and
//! this test fails on any wire in `diagram.json` that disagrees, naming the
//! part, the connection it expected and the one it found. The checks take
//! the files' text, so the tests at the bottom can feed them edited copies
//! and prove that a moved wire is caught.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use hilt_firmware::pins::{self, PinAssignment};
use serde_json::Value;

/// The Wokwi board part standing for the ESP32-C3-DevKitM-1.
const BOARD_ID: &str = "esp";
const BOARD_TYPE: &str = "board-esp32-c3-devkitm-1";

/// A part of the pin map as it appears in `diagram.json`.
struct WokwiPart {
    assignment: PinAssignment,
    /// The part id in `diagram.json`; the same ids as
    /// `hilt_wokwi::parts::PartIds`, which exports scenarios against them.
    id: &'static str,
    part_type: &'static str,
    /// The part's pin that goes to the GPIO.
    data_pin: &'static str,
}

/// Every part of the pin map that Wokwi can simulate.
const WOKWI_PARTS: [WokwiPart; 3] = [
    WokwiPart {
        assignment: pins::ONE_WIRE,
        id: "temp1",
        part_type: "wokwi-ds18b20",
        data_pin: "DQ",
    },
    WokwiPart {
        assignment: pins::BUTTON,
        id: "btn1",
        part_type: "wokwi-pushbutton",
        data_pin: "1.l",
    },
    WokwiPart {
        assignment: pins::LED,
        id: "led1",
        part_type: "wokwi-led",
        data_pin: "A",
    },
];

/// Parts of the pin map that have no Wokwi part, and why.
const NOT_IN_WOKWI: [(&str, &str); 2] = [
    (
        "tsl2591.sda",
        "Wokwi has no TSL2591 (its light sensor, wokwi-photoresistor-sensor, is analog)",
    ),
    (
        "tsl2591.scl",
        "Wokwi has no TSL2591 (its light sensor, wokwi-photoresistor-sensor, is analog)",
    ),
];

/// The root of the repository.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The wiring of a diagram: which part pins are electrically one net.
struct Nets {
    /// Union-find over `part:pin` names.
    parent: HashMap<String, String>,
}

impl Nets {
    fn find(&mut self, pin: &str) -> String {
        let parent = self
            .parent
            .entry(pin.to_owned())
            .or_insert_with(|| pin.to_owned())
            .clone();
        if parent == pin {
            return parent;
        }
        let root = self.find(&parent);
        self.parent.insert(pin.to_owned(), root.clone());
        root
    }

    fn join(&mut self, a: &str, b: &str) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent.insert(a, b);
        }
    }

    fn connected(&mut self, a: &str, b: &str) -> bool {
        self.find(a) == self.find(b)
    }

    /// Every pin on the same net as `pin`, sorted, `pin` itself left out.
    fn net_of(&mut self, pin: &str) -> BTreeSet<String> {
        let root = self.find(pin);
        let names: Vec<String> = self.parent.keys().cloned().collect();
        names
            .into_iter()
            .filter(|name| name != pin && self.find(name) == root)
            .collect()
    }
}

/// What a pin of the board is: a GPIO, ground or 3.3 V, by its Wokwi name
/// (`esp:4`, `esp:GND.7`, `esp:3V3.1`).
fn board_pin_kind(pin: &str) -> Option<String> {
    let name = pin.strip_prefix(&format!("{BOARD_ID}:"))?;
    if name.starts_with("GND") {
        Some("GND".to_owned())
    } else if name.starts_with("3V3") {
        Some("3V3".to_owned())
    } else if name.chars().all(|c| c.is_ascii_digit()) {
        Some(format!("GPIO{name}"))
    } else {
        None
    }
}

/// The board pins on the net of `pin`, as written in the diagram.
fn board_pins_on(nets: &mut Nets, pin: &str) -> Vec<String> {
    nets.net_of(pin)
        .into_iter()
        .filter(|name| name.starts_with(&format!("{BOARD_ID}:")))
        .collect()
}

fn describe(found: &[String]) -> String {
    if found.is_empty() {
        "nothing on the board".to_owned()
    } else {
        found.join(", ")
    }
}

/// Checks a `diagram.json` against the pin map; returns every problem.
fn check_diagram(text: &str) -> Vec<String> {
    let diagram: Value = match serde_json::from_str(text) {
        Ok(diagram) => diagram,
        Err(error) => return vec![format!("diagram.json is not JSON: {error}")],
    };
    let mut problems = Vec::new();
    let parts: HashMap<&str, &Value> = diagram["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|part| Some((part["id"].as_str()?, part)))
        .collect();
    let type_of = |id: &str| parts.get(id).and_then(|part| part["type"].as_str());

    match type_of(BOARD_ID) {
        Some(BOARD_TYPE) => {}
        found => problems.push(format!(
            "board: expected a part `{BOARD_ID}` of type {BOARD_TYPE}, found {found:?}"
        )),
    }

    let connections: Vec<(String, String)> = diagram["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|connection| {
            Some((
                connection[0].as_str()?.to_owned(),
                connection[1].as_str()?.to_owned(),
            ))
        })
        .collect();

    // The serial monitor must be wired to UART0, or Wokwi shows (and
    // wokwi-cli captures) nothing of the serial log.
    for (board, monitor) in [
        ("esp:TX", "$serialMonitor:RX"),
        ("esp:RX", "$serialMonitor:TX"),
    ] {
        let wired = connections
            .iter()
            .any(|(a, b)| (a == board && b == monitor) || (a == monitor && b == board));
        if !wired {
            problems.push(format!(
                "serial monitor: expected a wire {board} -> {monitor}, found none"
            ));
        }
    }

    let mut nets = Nets {
        parent: HashMap::new(),
    };
    for (a, b) in &connections {
        nets.join(a, b);
    }
    // Pins that are one conductor inside a part or on the board.
    for (id, part) in &parts {
        if part["type"] == "wokwi-pushbutton" {
            nets.join(&format!("{id}:1.l"), &format!("{id}:1.r"));
            nets.join(&format!("{id}:2.l"), &format!("{id}:2.r"));
        }
    }
    let board_pins: Vec<String> = nets
        .parent
        .keys()
        .filter(|pin| pin.starts_with(&format!("{BOARD_ID}:")))
        .cloned()
        .collect();
    for pin in &board_pins {
        match board_pin_kind(pin).as_deref() {
            Some("GND") => nets.join(pin, "GND"),
            Some("3V3") => nets.join(pin, "3V3"),
            _ => {}
        }
    }

    for part in &WOKWI_PARTS {
        let name = part.assignment.part;
        let label = format!("{name} ({}, {})", part.id, part.part_type);
        match type_of(part.id) {
            Some(found) if found == part.part_type => {}
            found => {
                problems.push(format!(
                    "{name}: expected a part `{}` of type {}, found {found:?}",
                    part.id, part.part_type
                ));
                continue;
            }
        }
        let data = format!("{}:{}", part.id, part.data_pin);
        let expected = format!("{BOARD_ID}:{}", part.assignment.gpio);
        let found = board_pins_on(&mut nets, &data);
        if found != [expected.clone()] {
            problems.push(format!(
                "{label}: {data} should be wired to {expected} (GPIO{} in hilt_firmware::pins) \
                 and to no other board pin, found {}",
                part.assignment.gpio,
                describe(&found)
            ));
        }
    }

    // The rest of each part's circuit, as pins.rs describes it.
    let resistor_between = |nets: &mut Nets, a: &str, b: &str| {
        parts.iter().any(|(id, part)| {
            part["type"] == "wokwi-resistor" && {
                let (one, two) = (format!("{id}:1"), format!("{id}:2"));
                (nets.connected(&one, a) && nets.connected(&two, b))
                    || (nets.connected(&one, b) && nets.connected(&two, a))
            }
        })
    };
    if type_of("temp1") == Some("wokwi-ds18b20") {
        let ok = nets.connected("temp1:VCC", "3V3");
        let found = describe(&board_pins_on(&mut nets, "temp1:VCC"));
        expect(
            &mut problems,
            ok,
            "ds18b20 (temp1)",
            "temp1:VCC on 3V3 (powered from VDD, not parasite power)",
            found,
        );
        let ok = nets.connected("temp1:GND", "GND");
        let found = describe(&board_pins_on(&mut nets, "temp1:GND"));
        expect(
            &mut problems,
            ok,
            "ds18b20 (temp1)",
            "temp1:GND on GND",
            found,
        );
        let ok = resistor_between(&mut nets, "temp1:DQ", "3V3");
        expect(
            &mut problems,
            ok,
            "ds18b20 (temp1)",
            "a pull-up resistor from temp1:DQ to 3V3 (the 1-Wire line is open drain)",
            "no resistor between them".to_owned(),
        );
    }
    if type_of("btn1") == Some("wokwi-pushbutton") {
        let ok = nets.connected("btn1:2.l", "GND");
        let found = describe(&board_pins_on(&mut nets, "btn1:2.l"));
        expect(
            &mut problems,
            ok,
            "button (btn1)",
            "its other contact, btn1:2.l, on GND (active low)",
            found,
        );
        let bounce = parts["btn1"]["attrs"]["bounce"].as_str();
        expect(
            &mut problems,
            bounce == Some("0"),
            "button (btn1)",
            "attrs.bounce \"0\" (the firmware does not debounce)",
            format!("{bounce:?}"),
        );
    }
    if type_of("led1") == Some("wokwi-led") {
        let ok = resistor_between(&mut nets, "led1:C", "GND") && !nets.connected("led1:C", "GND");
        let found = describe(&board_pins_on(&mut nets, "led1:C"));
        expect(
            &mut problems,
            ok,
            "led (led1)",
            "led1:C through a resistor to GND",
            format!("led1:C on {found}"),
        );
    }
    problems
}

/// Checks `wokwi.toml` against the firmware crate: both paths must name the
/// ELF that `cargo build --release` in firmware/ produces, copied to a name
/// ending in `.elf` (wokwi-cli names its upload after the extension, and
/// Wokwi tells an ELF from a flash image by it; cargo gives none).
fn check_wokwi_toml(wokwi: &str, firmware_cargo: &str, firmware_config: &str) -> Vec<String> {
    let parse = |name: &str, text: &str| {
        text.parse::<toml::Table>()
            .unwrap_or_else(|error| panic!("{name} is not TOML: {error}"))
    };
    let wokwi = parse("wokwi.toml", wokwi);
    let cargo = parse("firmware/Cargo.toml", firmware_cargo);
    let config = parse("firmware/.cargo/config.toml", firmware_config);

    let bin = cargo
        .get("bin")
        .and_then(|bins| bins.as_array())
        .and_then(|bins| bins.first())
        .and_then(|bin| bin["name"].as_str())
        .or_else(|| cargo["package"]["name"].as_str())
        .expect("firmware/Cargo.toml names its binary");
    let target = config
        .get("build")
        .and_then(|build| build.get("target"))
        .and_then(|target| target.as_str())
        .expect("firmware/.cargo/config.toml sets build.target");
    let expected = format!("firmware/target/{target}/release/{bin}.elf");

    let mut problems = Vec::new();
    let section = wokwi.get("wokwi");
    let version = section.and_then(|section| section.get("version"));
    if version.and_then(|version| version.as_integer()) != Some(1) {
        problems.push(format!(
            "wokwi.toml: expected [wokwi] version = 1, found {version:?}"
        ));
    }
    for key in ["firmware", "elf"] {
        let found = section
            .and_then(|section| section.get(key))
            .and_then(|value| value.as_str());
        if found != Some(expected.as_str()) {
            problems.push(format!(
                "wokwi.toml: expected {key} = \"{expected}\" (the firmware crate's release ELF, \
                 copied to a name Wokwi recognises), found {found:?}"
            ));
        }
    }
    problems
}

/// Records a problem unless `ok`.
fn expect(problems: &mut Vec<String>, ok: bool, part: &str, expected: &str, found: String) {
    if !ok {
        problems.push(format!("{part}: expected {expected}, found {found}"));
    }
}

fn assert_no_problems(problems: Vec<String>) {
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn diagram_json_is_wired_as_the_pin_map_says() {
    assert_no_problems(check_diagram(&read("diagram.json")));
}

#[test]
fn wokwi_toml_points_at_the_firmware_image() {
    assert_no_problems(check_wokwi_toml(
        &read("wokwi.toml"),
        &read("firmware/Cargo.toml"),
        &read("firmware/.cargo/config.toml"),
    ));
}

/// A part added to the pin map must be placed in Wokwi (or said to have no
/// Wokwi part) before this test passes again.
#[test]
fn every_pin_map_part_is_accounted_for() {
    for assignment in pins::ALL {
        let in_wokwi = WOKWI_PARTS.iter().any(|part| part.assignment == assignment);
        let left_out = NOT_IN_WOKWI
            .iter()
            .any(|(part, _)| *part == assignment.part);
        assert!(
            in_wokwi ^ left_out,
            "{} (GPIO{}) must be either in WOKWI_PARTS or in NOT_IN_WOKWI",
            assignment.part,
            assignment.gpio
        );
    }
}

/// `diagram.json` with one string replaced, which must occur exactly once.
fn edited(from: &str, to: &str) -> String {
    let text = read("diagram.json");
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} occurs once in diagram.json"
    );
    text.replace(from, to)
}

#[test]
fn a_moved_button_wire_is_reported_with_the_part_and_both_pins() {
    let from = format!("\"btn1:1.l\", \"esp:{}\"", pins::BUTTON.gpio);
    let wrong = if pins::BUTTON.gpio == 8 { 7 } else { 8 };
    let problems = check_diagram(&edited(&from, &format!("\"btn1:1.l\", \"esp:{wrong}\"")));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let problem = &problems[0];
    assert!(
        problem.starts_with("button (btn1, wokwi-pushbutton)"),
        "{problem}"
    );
    assert!(
        problem.contains(&format!("should be wired to esp:{}", pins::BUTTON.gpio)),
        "{problem}"
    );
    assert!(
        problem.ends_with(&format!("found esp:{wrong}")),
        "{problem}"
    );
}

#[test]
fn a_moved_ds18b20_wire_is_reported() {
    let from = format!("\"temp1:DQ\", \"esp:{}\"", pins::ONE_WIRE.gpio);
    let problems = check_diagram(&edited(&from, "\"temp1:DQ\", \"esp:10\""));
    assert!(
        problems.iter().any(
            |problem| problem.starts_with("ds18b20 (temp1, wokwi-ds18b20)")
                && problem.ends_with("found esp:10")
        ),
        "{problems:#?}"
    );
}

#[test]
fn an_led_wired_straight_to_ground_is_reported() {
    let problems = check_diagram(&edited("\"led1:C\", \"r1:1\"", "\"led1:C\", \"esp:GND.8\""));
    assert!(
        problems
            .iter()
            .any(|problem| problem
                .starts_with("led (led1): expected led1:C through a resistor to GND")),
        "{problems:#?}"
    );
}

#[test]
fn a_missing_serial_monitor_wire_is_reported() {
    let problems = check_diagram(&edited(
        "[ \"esp:TX\", \"$serialMonitor:RX\", \"\", [] ],",
        "",
    ));
    assert_eq!(
        problems,
        ["serial monitor: expected a wire esp:TX -> $serialMonitor:RX, found none"]
    );
}

#[test]
fn a_wokwi_toml_pointing_at_a_debug_build_is_reported() {
    let wokwi = read("wokwi.toml").replace("/release/", "/debug/");
    let problems = check_wokwi_toml(
        &wokwi,
        &read("firmware/Cargo.toml"),
        &read("firmware/.cargo/config.toml"),
    );
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0]
            .contains("expected firmware = \"firmware/target/riscv32imc-unknown-none-elf/release/"),
        "{}",
        problems[0]
    );
}

#[test]
fn a_wokwi_toml_naming_the_elf_without_its_extension_is_reported() {
    let wokwi = read("wokwi.toml").replace("hilt-esp32c3.elf\"", "hilt-esp32c3\"");
    let problems = check_wokwi_toml(
        &wokwi,
        &read("firmware/Cargo.toml"),
        &read("firmware/.cargo/config.toml"),
    );
    assert_eq!(problems.len(), 2, "{problems:#?}");
    for problem in &problems {
        assert!(
            problem.contains("/release/hilt-esp32c3.elf\"") && problem.ends_with("hilt-esp32c3\")"),
            "{problem}"
        );
    }
}
