#include "twin/twin_signals.hpp"
