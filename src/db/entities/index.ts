import { Asset } from './asset.entity.js';
import { Chest } from './chest.entity.js';
import { Contribution } from './contribution.entity.js';
import { Story } from './story.entity.js';

export { Asset, Chest, Contribution, Story };
export const entities = [Chest, Asset, Story, Contribution];
