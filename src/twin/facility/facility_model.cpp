#include "twin/facility/facility_model.hpp"
