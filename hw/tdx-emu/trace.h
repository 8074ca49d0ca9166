#include "trace/trace-hw_tdx_emu.h"
