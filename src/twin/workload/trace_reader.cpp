#include "twin/workload/trace_reader.hpp"
