/* SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause */
/* The rule that raises the committed feature level: see feature_level.h. */
#include "plugin/feature_level.h"

#include "plugin/records.h"

uint32_t ha_feature_level_target(uint32_t committed, uint32_t own,
				 const struct ha_voter_level *voters,
				 size_t n_voters)
{
	uint32_t target = own;
	for (size_t i = 0; i < n_voters; i++) {
		if (voters[i].level != 0) {
			if (voters[i].level < target)
				target = voters[i].level;
		} else if (voters[i].waiting &&
			   committed > HA_FEATURE_LEVEL_BASE) {
			return 0;
		}
	}
	return target > committed ? target : 0;
}
