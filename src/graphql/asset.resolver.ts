import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { Asset } from '../db/entities/index.js';
import { GeoLocation } from '../db/entities/asset.types.js';
import { maySeeLocation } from '../domain/access/access.service.js';
import type { Context } from './context.js';

@Resolver(() => Asset)
export class AssetResolver {
  /** The only way coordinates leave the server: the access service decides per caller and chest. */
  @FieldResolver(() => GeoLocation, { nullable: true, description: "Where it was made; only the chest's own people see it." })
  location(@Root() asset: Asset, @Ctx() ctx: Context): GeoLocation | null {
    return maySeeLocation(ctx.actor, asset.chest) ? asset.location : null;
  }
}
