import { Account } from './account.entity.js';
import { Asset } from './asset.entity.js';
import { Chest } from './chest.entity.js';
import { ChestEvent } from './chest-event.entity.js';
import { ChestExport } from './chest-export.entity.js';
import { Contribution } from './contribution.entity.js';
import { DuplicateDismissal } from './duplicate-dismissal.entity.js';
import { Face } from './face.entity.js';
import { Membership } from './membership.entity.js';
import { Person } from './person.entity.js';
import { RateLimitCounter } from './rate-limit.entity.js';
import { AnalysisRequest } from './analysis-request.entity.js';
import { SearchEntry } from './search-entry.entity.js';
import { Session } from './session.entity.js';
import { Story } from './story.entity.js';
import { Upload } from './upload.entity.js';

export { Account, AnalysisRequest, Asset, Chest, ChestEvent, ChestExport, Contribution, DuplicateDismissal, Face, Membership, Person, RateLimitCounter, SearchEntry, Session, Story, Upload };
export const entities = [Chest, Asset, Story, Contribution, Account, Session, Membership, Upload, ChestEvent, RateLimitCounter, Person, Face, AnalysisRequest, SearchEntry, ChestExport, DuplicateDismissal];
