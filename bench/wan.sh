# bench/wan.sh: placeholder
