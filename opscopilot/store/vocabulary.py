"""Manufacturing shorthand: what ERP item texts and people abbreviate, spelled out once.

Applied to item text and to queries alike, so "GSKT NBR 50X3" and "nitrile gasket 50 x 3"
meet on the same tokens. Entries are general trade abbreviations (purchasing, MRO and
ERP short texts), not tuned to any one catalogue.
"""

from __future__ import annotations

# token -> canonical tokens (several for an acronym that names a whole item kind)
ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    # seals and gaskets
    "gskt": ("gasket",),
    "gsk": ("gasket",),
    "gkt": ("gasket",),
    "gaskt": ("gasket",),
    "o-ring": ("oring",),
    "orng": ("oring",),
    "org": ("oring",),
    "orings": ("oring",),
    "seal": ("seal",),
    "sl": ("seal",),
    "flg": ("flange",),
    "flng": ("flange",),
    # bearings
    "brg": ("bearing",),
    "brng": ("bearing",),
    "bearg": ("bearing",),
    "dgbb": ("deep", "groove", "ball", "bearing"),
    "zz": ("2z",),
    "2rs1": ("2rs",),
    "2rsh": ("2rs",),
    "ddu": ("2rs",),
    "llu": ("2rs",),
    "trb": ("tapered", "roller", "bearing"),
    "pb": ("pillow", "block"),
    # fasteners
    "blt": ("bolt",),
    "bt": ("bolt",),
    "hx": ("hex",),
    "hexagon": ("hex",),
    "hhb": ("hex", "bolt"),
    "scr": ("screw",),
    "shcs": ("socket", "head", "cap", "screw"),
    "shc": ("socket", "head", "cap"),
    "allen": ("socket", "head"),
    "skt": ("socket",),
    "hd": ("head",),
    "wshr": ("washer",),
    "wsh": ("washer",),
    "nt": ("nut",),
    "thd": ("thread",),
    "thrd": ("thread",),
    # valves
    "vlv": ("valve",),
    "vlve": ("valve",),
    "v/v": ("valve",),
    "bv": ("ball", "valve"),
    "sov": ("solenoid", "valve"),
    "sol": ("solenoid",),
    "nrv": ("check", "valve"),
    "prv": ("pressure", "relief", "valve"),
    "bfv": ("butterfly", "valve"),
    "bfly": ("butterfly",),
    # sensors and electrical
    "sens": ("sensor",),
    "snsr": ("sensor",),
    "sen": ("sensor",),
    "prox": ("proximity",),
    "ind": ("inductive",),
    "xmtr": ("transmitter",),
    "xmitter": ("transmitter",),
    "trans": ("transmitter",),
    "transm": ("transmitter",),
    "tx": ("transmitter",),
    "press": ("pressure",),
    "pres": ("pressure",),
    "prs": ("pressure",),
    "temp": ("temperature",),
    "lvl": ("level",),
    "flowmeter": ("flow", "meter"),
    "rtd": ("pt100",),
    "mtr": ("motor",),
    "p": ("pole",),
    "pol": ("pole",),
    "amp": ("a",),
    "amps": ("a",),
    "ampere": ("a",),
    "volt": ("v",),
    "volts": ("v",),
    "3ph": ("3", "phase"),
    "rly": ("relay",),
    "mcb": ("miniature", "circuit", "breaker"),
    "mccb": ("moulded", "case", "circuit", "breaker"),
    "rcd": ("residual", "current", "device"),
    "vfd": ("variable", "frequency", "drive"),
    "vsd": ("variable", "speed", "drive"),
    "cont": ("contactor",),
    "cntctr": ("contactor",),
    "cbl": ("cable",),
    # power transmission
    "vbelt": ("v", "belt"),
    "v-belt": ("v", "belt"),
    "tbelt": ("timing", "belt"),
    "cplg": ("coupling",),
    "cpl": ("coupling",),
    "chn": ("chain",),
    "sprkt": ("sprocket",),
    # hydraulics, pneumatics, filtration, lubrication
    "hyd": ("hydraulic",),
    "hydr": ("hydraulic",),
    "pneu": ("pneumatic",),
    "pneum": ("pneumatic",),
    "cyl": ("cylinder",),
    "da": ("double", "acting"),
    "sa": ("single", "acting"),
    "filt": ("filter",),
    "fltr": ("filter",),
    "flt": ("filter",),
    "elem": ("element",),
    "elmt": ("element",),
    "el": ("element",),
    "grs": ("grease",),
    "lub": ("lubricant",),
    "lube": ("lubricant",),
    "ftg": ("fitting",),
    "fitt": ("fitting",),
    "hse": ("hose",),
    "assy": ("assembly",),
    "asm": ("assembly",),
    # materials
    "ss": ("stainless",),
    "s/s": ("stainless",),
    "sst": ("stainless",),
    "inox": ("stainless",),
    "a2": ("a2", "stainless"),
    "a4": ("a4", "stainless"),
    "viton": ("fkm",),
    "fpm": ("fkm",),
    "nitrile": ("nbr",),
    "buna": ("nbr",),
    "teflon": ("ptfe",),
    "vmq": ("silicone",),
    "sil": ("silicone",),
    "brs": ("brass",),
    "zn": ("zinc",),
    "zp": ("zinc",),
    "galv": ("galvanised",),
    "galvanized": ("galvanised",),
    "cs": ("carbon", "steel"),
    "stl": ("steel",),
    "alu": ("aluminium",),
    "al": ("aluminium",),
    "aluminum": ("aluminium",),
    # sizes and units
    "dia": ("diameter",),
    "thk": ("thickness",),
    "lg": ("length",),
    "millimeter": ("mm",),
    "millimetre": ("mm",),
    "millimeters": ("mm",),
    "inch": ("in",),
    "inches": ("in",),
    "um": ("micron",),
    "µm": ("micron",),
    "mic": ("micron",),
    "ltr": ("l",),
    "litre": ("l",),
    "liter": ("l",),
    "pcs": ("pc",),
    "piece": ("pc",),
    "pce": ("pc",),
    "ea": ("pc",),
}

# Letters that follow a number as its unit ("50mm", "24vdc", "10bar"): split off.
UNITS = frozenset(
    {
        "mm", "cm", "m", "in", "ft", "bar", "psi", "mbar", "kpa", "mpa", "v", "vdc", "vac",
        "a", "ma", "w", "kw", "hp", "nm", "l", "ml", "kg", "g", "rpm", "micron", "um", "c",
        "hz", "kn", "n", "sh", "shore", "lpm", "pc", "pcs", "pole",
    }
)  # fmt: skip

# Of the size prefixes below, those naming an inch thread: "G1/4" is also "1/4" to a fitter.
INCH_THREAD_PREFIXES = frozenset({"g", "r", "npt", "bsp", "bspp"})
# Letters that lead a size code and belong to the number after them ("DN 50" -> "dn50").
SIZE_PREFIXES = frozenset(
    {"m", "dn", "pn", "g", "r", "npt", "bsp", "bspp", "sw", "spz", "spa", "spb", "iso", "din", "en"}
)

# Material codes an ERP glues to a grade ("NBR70", "SS316"): split into code and number.
MATERIAL_CODES = frozenset({"nbr", "fkm", "fpm", "epdm", "hnbr", "vmq", "ptfe", "ss", "sst"})

STOPWORDS = frozenset({"x", "for", "with", "and", "the", "of", "to", "per", "w/", "type"})
