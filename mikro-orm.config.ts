// For the MikroORM CLI and editors; the app builds the same options through src/db/orm.ts.
import { ormOptions } from './src/db/orm.js';

export default ormOptions({
  clientUrl: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
  poolMax: 2,
});
