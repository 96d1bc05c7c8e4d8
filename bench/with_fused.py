"""A copy of a config with fused_attention set, for the benches that time both paths.

    python3 bench/with_fused.py CONFIG.json true|false OUT.json

The copy drops the config's // comment lines (the engine reads them; json does not).
"""
import json
import re
import sys

config = json.loads(re.sub(r"^\s*//.*$", "", open(sys.argv[1]).read(), flags=re.M))
config["fused_attention"] = sys.argv[2] == "true"
json.dump(config, open(sys.argv[3], "w"))
